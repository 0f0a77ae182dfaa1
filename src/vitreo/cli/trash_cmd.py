"""`vitreo trash`: the project's Trash/ folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vitreo.cli.confirm import confirm_or_yes
from vitreo.pipeline.project import Project
from vitreo.pipeline.trash import empty_trash

app = typer.Typer(help="Deleted jobs and cleaned files.", no_args_is_help=True)


@app.command("empty")
def empty_command(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    project: Annotated[Path, typer.Option("--project", "-p", help="Project directory.")] = Path("."),
) -> None:
    """Remove Trash/ for good (deleted jobs can no longer be undeleted)."""
    proj = Project.open(project)
    confirm_or_yes(f"Remove {proj.root / 'Trash'} for good?", yes)
    typer.echo(f"removed {empty_trash(proj)} file(s) from Trash/")


__all__ = ["app"]
