"""`vitreo run`, `vitreo schedule` and `vitreo autorun`: add jobs to a project and run them."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from vitreo.cli.job_args import options_help, parse_job_args
from vitreo.jobs.cli_aliases import expand_aliases
from vitreo.jobs.registry import all_specs, find_spec, spec_for_label
from vitreo.jobs.spec import JobSpec
from vitreo.pipeline.autorun import autorun
from vitreo.pipeline.job_star import read_job_star
from vitreo.pipeline.launch import start_job, wait_for_job
from vitreo.pipeline.model import Status
from vitreo.pipeline.project import Project
from vitreo.pipeline.submit import JobRun, create_job, params_from_values

ProjectOption = Annotated[Path, typer.Option("--project", "-p", help="Project directory.")]
TypeArgument = Annotated[Optional[str], typer.Argument(help="Job type: Import, relion.import ...", show_default=False)]
AliasOption = Annotated[Optional[str], typer.Option("--alias", help="Alias for the new job (a link Type/ALIAS).")]
FromOption = Annotated[Optional[Path], typer.Option("--from", help="Take parameters from this job.star.")]
HelpOption = Annotated[bool, typer.Option("--help", "-h", help="Show this help, or the job type's parameters.")]


def _types_help(command: str) -> str:
    specs = all_specs()
    width = max(len(spec.type_label) for spec in specs) + 2
    listing = "\n".join(f"  {spec.directory:<14}{spec.type_label:<{width}}{spec.summary}" for spec in specs)
    return (f"Usage: vitreo {command} TYPE [--alias NAME] [--from job.star] [--project DIR] [--name value ...]\n\n"
            f"Job types:\n{listing}\n\n`vitreo {command} TYPE --help` lists the parameters of a job type.\n")


def _split_type(job_type: str | None, args: list[str]) -> tuple[str | None, list[str]]:
    """Without TYPE, click puts the first ``--name`` in its place: give it back to the pairs."""
    if job_type is not None and job_type.startswith("--"):
        return None, [job_type, *args]
    return job_type, list(args)


def _job_request(job_type: str | None, from_file: Path | None, args: list[str]) -> tuple[JobSpec, dict[str, str]]:
    """The job type and parameter values from TYPE, --from job.star and --name value pairs."""
    values: dict[str, str] = {}
    spec = find_spec(job_type) if job_type else None
    if from_file is not None:
        job = read_job_star(from_file)
        file_spec = spec_for_label(job.type_label)
        if file_spec is None:
            raise ValueError(f"{from_file}: vitreo has no {job.type_label} job type")
        if spec is not None and spec.type_label != file_spec.type_label:
            raise ValueError(f"{from_file} is a {job.type_label} job, not {job_type}")
        spec = file_spec
        params, ignored = params_from_values(spec, job.values)
        if ignored:
            typer.echo(f"ignoring options vitreo does not know: {', '.join(ignored)}", err=True)
        values = dict(params)
    if spec is None:
        raise ValueError("give a job type (or --from job.star); `vitreo run --help` lists them")
    values.update(expand_aliases(spec, parse_job_args(args)))
    return spec, values


def _command_line(command: str, job_type: str | None, alias: str | None, from_file: Path | None,
                  args: list[str]) -> str:
    words = ["vitreo", command, *([job_type] if job_type else [])]
    words += [*(["--alias", alias] if alias else []), *(["--from", str(from_file)] if from_file else []), *args]
    return shlex.join(words)


def run_command(
    ctx: typer.Context,
    job_type: TypeArgument = None,
    alias: AliasOption = None,
    from_file: FromOption = None,
    background: Annotated[bool, typer.Option("--background", help="Return at once; the job goes on.")] = False,
    project: ProjectOption = Path("."),
    show_help: HelpOption = False,
) -> None:
    """Create a new job and run it: `vitreo run Import --fn_in_raw 'Movies/*.tiff' --angpix 0.885`."""
    request = _request_or_help(ctx, job_type, from_file, show_help, "run")
    if request is None:
        return
    job_type, args, spec, values = request
    proj = Project.open(project)
    run = create_job(proj, spec, spec.params(values), alias=alias)
    command = _command_line("run", job_type, alias, from_file, args)
    finish(proj, run, command, background)


def _request_or_help(
    ctx: typer.Context, job_type: str | None, from_file: Path | None, show_help: bool, verb: str
) -> tuple[str | None, list[str], JobSpec, dict[str, str]] | None:
    """The job type, its arguments, spec and values; or None after printing the help asked for."""
    job_type, args = _split_type(job_type, ctx.args)
    if show_help or (job_type is None and from_file is None):
        typer.echo(options_help(find_spec(job_type)) if job_type else _types_help(verb))
        return None
    spec, values = _job_request(job_type, from_file, args)
    return job_type, args, spec, values


def finish(project: Project, run: JobRun, command: str, background: bool) -> None:
    """Start a created job; in the foreground wait for it and fail when it fails."""
    child = start_job(project, run, [command], background=background)
    if background or child is None:
        how = "submitted to the queue" if child is None else f"running in the background (pid {child.pid})"
        typer.echo(f"{run.name} {how}")
        return
    status = wait_for_job(project, run.name, child)
    if status is not Status.SUCCEEDED:
        raise ValueError(f"{run.name} {status.value.lower()}: {_last_error(project.path(run.name))}")
    typer.echo(f"{run.name} {status.value}")


def _last_error(job_dir: Path) -> str:
    try:
        lines = [line.strip() for line in (job_dir / "run.err").read_text(errors="replace").splitlines()]
    except OSError:
        lines = []
    lines = [line for line in lines if line]
    return lines[-1].removeprefix("vitreo: ").removeprefix("error: ") if lines else "see run.err"


def schedule_command(
    ctx: typer.Context,
    job_type: TypeArgument = None,
    alias: AliasOption = None,
    from_file: FromOption = None,
    project: ProjectOption = Path("."),
    show_help: HelpOption = False,
) -> None:
    """Add a job as Scheduled, to be run by `vitreo autorun`."""
    request = _request_or_help(ctx, job_type, from_file, show_help, "schedule")
    if request is None:
        return
    _, _, spec, values = request
    run = create_job(Project.open(project), spec, spec.params(values), alias=alias, schedule=True)
    typer.echo(f"{run.name} Scheduled")


def autorun_command(
    jobs: Annotated[Optional[list[str]], typer.Argument(help="Jobs to run in this order (default: all Scheduled).",
                                                        show_default=False)] = None,
    repeat: Annotated[int, typer.Option("--repeat", help="Run the jobs this many times.")] = 1,
    wait: Annotated[float, typer.Option("--wait", help="Start repeats at least this many minutes apart.")] = 0.0,
    name: Annotated[str, typer.Option("--name", help="Scheduler name (pipeline_NAME.log).")] = "autorun",
    project: ProjectOption = Path("."),
) -> None:
    """Run scheduled jobs in order, repeatedly: on-the-fly processing."""
    words = ["vitreo", "autorun", *(jobs or []), "--repeat", str(repeat), "--wait", f"{wait:g}"]
    result = autorun(Project.open(project), jobs or [], repeat=repeat, wait_minutes=wait, name=name,
                     command=shlex.join(words), echo=typer.echo)
    if result.stopped_by is not None:
        raise ValueError(f"autorun stopped: {result.stopped_by} {result.status.value.lower()}")


__all__ = ["run_command", "schedule_command", "autorun_command", "finish"]
