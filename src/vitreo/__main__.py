"""`python -m vitreo` runs the command line."""

from vitreo.cli.main import main

main()
