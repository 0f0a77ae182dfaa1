"""`vitreo gui`: the web GUI for the project in the current (or given) directory; `vitreo display FILE`:
one file in the GUI's display views, as relion_display."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote
from typing import Annotated

import typer

from vitreo.io.errors import InputError
from vitreo.pipeline.project import PIPELINE_FILE, Project, enclosing_project

HostOption = Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only; "
                                                        "use an SSH tunnel to reach it from elsewhere).")]
PortOption = Annotated[int, typer.Option("--port", help="Port (0: any free port).", min=0, max=65535)]
NoBrowserOption = Annotated[bool, typer.Option("--no-browser", help="Do not open a web browser.")]


def gui_command(
    project: Annotated[Path, typer.Option("--project", "-p", help="Project directory.")] = Path("."),
    host: HostOption = "127.0.0.1",
    port: PortOption = 0,
    no_browser: NoBrowserOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Create the project without asking.")] = False,
) -> None:
    """Start the web GUI (a local server; the printed URL holds the access token)."""
    from vitreo.gui.server import serve

    _ensure_project(project, yes)
    serve(project, host=host, port=port, open_browser=not no_browser, echo=typer.echo)


def display_command(
    file: Annotated[Path, typer.Argument(help="A micrograph, stack, STAR file, _model.star or map.")],
    host: HostOption = "127.0.0.1",
    port: PortOption = 0,
    no_browser: NoBrowserOption = False,
) -> None:
    """Show FILE in the GUI's display views (`relion_display --i FILE`); served from its project."""
    from vitreo.gui.server import serve

    path = file.resolve()
    if not path.is_file():
        raise InputError(file, "no such file")
    here = Path.cwd().resolve()
    root = enclosing_project(path.parent) or (here if path.is_relative_to(here) else path.parent)
    relative = path.relative_to(root).as_posix()
    serve(root, host=host, port=port, open_browser=not no_browser, echo=typer.echo,
          fragment=f"display={quote(relative)}")


def _ensure_project(directory: Path, yes: bool) -> None:
    """Create a project in a new directory once confirmed; without a terminal the page asks instead."""
    if (directory / PIPELINE_FILE).is_file():
        return
    existing = enclosing_project(directory)
    if existing is not None:
        raise ValueError(f"{directory.resolve()} is inside the project {existing}: start the GUI there")
    if yes:
        Project.init(directory)
    elif sys.stdin.isatty():
        typer.confirm(f"Create a new project in {directory.resolve()}?", abort=True)
        Project.init(directory)
    else:
        typer.echo(f"{directory.resolve()} holds no project yet: the page will ask to create one", err=True)


__all__ = ["gui_command", "display_command"]
