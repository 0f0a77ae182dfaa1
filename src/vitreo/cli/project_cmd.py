"""`vitreo project`: create a project, show its jobs, clean it, recover its pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vitreo.cli.confirm import confirm_or_yes
from vitreo.pipeline.clean import clean_project
from vitreo.pipeline.job_state import refresh_statuses
from vitreo.pipeline.project import Project
from vitreo.pipeline.recover import recover_pipeline
from vitreo.pipeline.summary import format_summary, summarise

app = typer.Typer(help="Project directories and their pipelines.", no_args_is_help=True)
ProjectOption = Annotated[Path, typer.Option("--project", "-p", help="Project directory.")]


@app.command("init")
def init_command(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")] = Path("."),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Create a new project (an empty default_pipeline.star) in DIRECTORY."""
    confirm_or_yes(f"Create a new project in {directory.resolve()}?", yes)
    project = Project.init(directory)
    typer.echo(f"created project {project.root}")


@app.command("status")
def status_command(
    project: ProjectOption = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """List the jobs with status, alias, inputs and outputs."""
    proj = Project.open(project)
    try:
        refresh_statuses(proj)
    except PermissionError:  # a read-only project: show what the pipeline says
        pass
    pipeline = proj.read()
    jobs = summarise(pipeline)
    if as_json:
        typer.echo(json.dumps({"job_counter": pipeline.job_counter, "jobs": [j.as_dict() for j in jobs]}, indent=1))
    else:
        typer.echo(format_summary(jobs, pipeline.job_counter), nl=False)


@app.command("clean")
def clean_command(
    harsh: Annotated[bool, typer.Option("--harsh/--gentle", help="Harsh also removes large intermediates.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Move intermediate files of all finished jobs to Trash/ (harsh skips NO_HARSH_CLEAN jobs)."""
    moved = clean_project(Project.open(project), harsh)
    total = sum(len(paths) for paths in moved.values())
    typer.echo(f"moved {total} file(s) or folder(s) from {len(moved)} job(s) to Trash/")


@app.command("recover")
def recover_command(project: ProjectOption = Path(".")) -> None:
    """Rebuild default_pipeline.star from the pipeline copies in the job directories."""
    root = Path(project)
    report = recover_pipeline(Project(root))
    typer.echo(f"rebuilt {Project(root).pipeline_path} from {report.base or 'the job directories'}"
               + (f"; added {', '.join(report.added)}" if report.added else "")
               + (f"; dropped {', '.join(report.dropped)}" if report.dropped else "")
               + (f"; the damaged file is {report.backup.name}" if report.backup else ""))


__all__ = ["app"]
