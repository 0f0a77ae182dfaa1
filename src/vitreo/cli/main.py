"""Entry point of the `vitreo` command: sub-command registration and error reporting."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from vitreo import __version__
from vitreo.cli import bench_cmd, demo_cmd, image_cmd, reconstruct_cmd, star_cmd
from vitreo.cli import simulate_cmd
from vitreo.cli import gui_cmd
from vitreo.cli import job_cmd, project_cmd, run_cmd, trash_cmd
from vitreo.cli.job_args import JOB_ARGS_CONTEXT
from vitreo.io.errors import InputError

app = typer.Typer(
    name="vitreo",
    help="Cryo-EM single-particle analysis: from raw movies to a sharpened, validated 3D map.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(star_cmd.app, name="star")
app.add_typer(image_cmd.app, name="image")
app.command("simulate")(simulate_cmd.simulate)
app.command("reconstruct")(reconstruct_cmd.reconstruct_command)
app.command("demo")(demo_cmd.demo_command)
app.command("bench")(bench_cmd.bench_command)
app.add_typer(project_cmd.app, name="project")
app.command("run", context_settings=JOB_ARGS_CONTEXT)(run_cmd.run_command)
app.command("schedule", context_settings=JOB_ARGS_CONTEXT)(run_cmd.schedule_command)
app.command("autorun")(run_cmd.autorun_command)
app.add_typer(job_cmd.app, name="job")
app.add_typer(trash_cmd.app, name="trash")
app.command("gui")(gui_cmd.gui_command)
app.command("display")(gui_cmd.display_command)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"vitreo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Cryo-EM single-particle analysis: from raw movies to a sharpened, validated 3D map."""


def main(argv: list[str] | None = None) -> None:
    """Run the command line; bad input ends in one error line and exit status 1, never a traceback.

    Set VITREO_DEBUG=1 to see the full traceback instead.
    """
    if os.environ.get("VITREO_DEBUG"):
        app(args=argv, prog_name="vitreo")
        return
    try:
        app(args=argv, prog_name="vitreo")
    except InputError as err:
        _fail(str(err))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as err:
        _fail(f"{err.filename}: {err.strerror}" if err.filename else str(err))
    except ValueError as err:
        _fail(str(err))
    except KeyboardInterrupt:
        _fail("interrupted")


def _fail(message: str) -> None:
    sys.stderr.write(f"vitreo: error: {message}\n")
    sys.exit(1)


if __name__ == "__main__":
    main()
