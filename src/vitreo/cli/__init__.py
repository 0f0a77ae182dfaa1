"""The `vitreo` command line (Typer)."""
