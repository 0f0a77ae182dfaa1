"""`vitreo job`: act on one job: note, alias, continue, abort, mark, delete, clean, flowchart."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from vitreo.cli.job_args import JOB_ARGS_CONTEXT, parse_job_args
from vitreo.cli.run_cmd import finish
from vitreo.jobs.registry import all_specs
from vitreo.pipeline.clean import clean_job
from vitreo.pipeline.flowchart import write_flowchart
from vitreo.pipeline.job_state import abort_job, mark_finished, set_job_alias
from vitreo.pipeline.notes import append_text, read_note
from vitreo.pipeline.project import Project
from vitreo.pipeline.submit import continue_job
from vitreo.pipeline.trash import delete_job, undelete_job

app = typer.Typer(help="Act on one job (by name, alias, jobNNN or number).", no_args_is_help=True)
ProjectOption = Annotated[Path, typer.Option("--project", "-p", help="Project directory.")]
JobArgument = Annotated[str, typer.Argument(help="The job: Import/job001, Import/movies, job001 or 1.")]


def _job_dir(project: Project, job: str) -> Path:
    return project.path(project.resolve(project.read(), job).name)


@app.command("note")
def note_command(
    job: JobArgument,
    append: Annotated[Optional[str], typer.Option("--append", "-a", help="Add this text to the note.")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Show a job's note.txt (commands it ran, with dates), or add text to it."""
    job_dir = _job_dir(Project.open(project), job)
    if append is not None:
        append_text(job_dir, append)
    else:
        typer.echo(read_note(job_dir), nl=False)


@app.command("alias")
def alias_command(
    job: JobArgument,
    alias: Annotated[Optional[str], typer.Argument(help="New alias (omit to remove the alias).")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Set, change or remove a job's alias (a symbolic link Type/ALIAS to the job)."""
    stored = set_job_alias(Project.open(project), job, alias)
    typer.echo(f"alias {stored.rstrip('/')}" if stored else "alias removed")


@app.command("continue", context_settings=JOB_ARGS_CONTEXT)
def continue_command(
    ctx: typer.Context,
    job: JobArgument,
    background: Annotated[bool, typer.Option("--background", help="Return at once; the job goes on.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Continue a finished job (--name value changes allowed options, e.g. --fn_cont for ML jobs)."""
    proj = Project.open(project)
    run = continue_job(proj, job, parse_job_args(ctx.args))
    finish(proj, run, shlex.join(["vitreo", "job", "continue", job, *ctx.args]), background)


@app.command("abort")
def abort_command(job: JobArgument, project: ProjectOption = Path(".")) -> None:
    """Ask a running job to stop (RELION_JOB_ABORT_NOW); it ends as Aborted."""
    typer.echo(f"asked {abort_job(Project.open(project), job)} to abort")


@app.command("mark-finished")
def mark_finished_command(
    job: JobArgument,
    failed: Annotated[bool, typer.Option("--failed", help="Mark as Failed instead of Succeeded.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Mark a job as Succeeded (or Failed), e.g. after it was stopped outside vitreo."""
    name = mark_finished(Project.open(project), job, failed)
    typer.echo(f"{name} {'Failed' if failed else 'Succeeded'}")


@app.command("delete")
def delete_command(job: JobArgument, project: ProjectOption = Path(".")) -> None:
    """Move a job, and every job that depends on it, to Trash/."""
    names = delete_job(Project.open(project), job)
    typer.echo(f"moved to Trash/: {' '.join(names)}")


@app.command("undelete")
def undelete_command(job: JobArgument, project: ProjectOption = Path(".")) -> None:
    """Bring a deleted job (and the jobs deleted with it) back from Trash/."""
    names = undelete_job(Project.open(project), job)
    typer.echo(f"restored: {' '.join(names)}")


@app.command("clean")
def clean_command(
    job: JobArgument,
    harsh: Annotated[bool, typer.Option("--harsh/--gentle", help="Harsh also removes large intermediates.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Move a finished job's intermediate files to Trash/."""
    moved = clean_job(Project.open(project), job, harsh)
    typer.echo(f"moved {len(moved)} file(s) or folder(s) to Trash/")


@app.command("flowchart")
def flowchart_command(
    job: JobArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="FILE.svg or FILE.html")],
    project: ProjectOption = Path("."),
) -> None:
    """Draw the job's history (every job it depends on) as SVG or HTML."""
    typer.echo(f"wrote {write_flowchart(Project.open(project), job, output)}")


@app.command("types")
def types_command() -> None:
    """List the job types vitreo can run."""
    for spec in all_specs():
        typer.echo(f"{spec.directory:<14}{spec.type_label:<18}{spec.summary}")


__all__ = ["app"]
