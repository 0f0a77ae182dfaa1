"""Run a fixed chain of jobs through the pipeline, resumably (as RELION's Schemes do).

A scheme is a list of :class:`Stage`: a job type, its parameters and an alias. A parameter value
may name the job directory of an earlier stage as ``{alias}``, e.g.
``{motioncorr}corrected_micrographs.star``, or be a function of the project directory and the
earlier stages' jobs, evaluated when the stage starts (to choose the best class of a
classification, say, or to prepare a file the job reads). Every stage's job gets its alias, so running the
same scheme again in the same project finds the jobs that succeeded and goes on from the first
that did not; a job that failed, was aborted or was interrupted is moved to the Trash (with
the jobs downstream of it) and run again.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vitreo.jobs.registry import find_spec
from vitreo.pipeline.job_star import JOB_STAR
from vitreo.pipeline.job_state import refresh_statuses
from vitreo.pipeline.launch import start_job, wait_for_job
from vitreo.pipeline.markers import EXIT_SUCCESS
from vitreo.pipeline.model import Process, Status
from vitreo.pipeline.project import Project
from vitreo.pipeline.submit import create_job
from vitreo.pipeline.trash import delete_job

_REFERENCE = re.compile(r"\{([A-Za-z0-9_]+)\}")

#: A parameter value decided when its stage starts: f(project directory, {alias: job directory}).
Deferred = Callable[[Path, Mapping[str, str]], str]


@dataclass(frozen=True)
class Stage:
    """One job of a scheme: ``alias`` (unique in the scheme), job type (``relion.class2d`` or
    ``Class2D``), parameter values (RELION names, text as in job.star) and a title for people."""

    alias: str
    job_type: str
    params: Mapping[str, str | Deferred]
    title: str = ""


@dataclass(frozen=True)
class StageResult:
    """What a stage did: its job (``Class2D/job006/``), wall seconds, and whether an earlier run's
    job was reused."""

    stage: Stage
    job: str
    seconds: float
    reused: bool


class StageFailed(RuntimeError):
    """A stage's job did not succeed; the message names the job and the end of its run.err."""


def resolve_params(stage: Stage, jobs: Mapping[str, str], root: Path = Path(".")) -> dict[str, str]:
    """The stage's parameter values: ``{alias}`` replaced by that stage's job directory, deferred
    values computed (with ``root`` the project directory)."""

    def replace(match: re.Match[str]) -> str:
        alias = match.group(1)
        if alias not in jobs:
            raise ValueError(f"stage {stage.alias}: {{{alias}}} names no earlier stage")
        return jobs[alias]

    return {name: value(root, jobs) if callable(value) else _REFERENCE.sub(replace, value)
            for name, value in stage.params.items()}


def _job_with_alias(project: Project, stage: Stage, directory: str) -> Process | None:
    wanted = f"{directory}/{stage.alias}/"
    return next((p for p in project.read().processes if p.alias == wanted), None)


def _error_tail(project: Project, job: str, lines: int = 5) -> str:
    err = project.path(job) / "run.err"
    text = err.read_text(errors="replace").strip().splitlines() if err.is_file() else []
    return " | ".join(text[-lines:]) or "no message in run.err"


def _recorded_seconds(project: Project, job: str) -> float:
    """How long a finished job ran: from its job.star to its exit marker (0 when unknown)."""
    job_dir = project.path(job)
    try:
        return max(0.0, (job_dir / EXIT_SUCCESS).stat().st_mtime - (job_dir / JOB_STAR).stat().st_mtime)
    except OSError:
        return 0.0


def run_command_line(job_type: str, alias: str, values: Mapping[str, str]) -> str:
    """The ``vitreo run`` command that creates the same job (recorded in its note.txt); a value that
    looks like an option (``--save_movies``) is joined to its name with ``=``."""
    words = ["vitreo", "run", job_type, "--alias", alias]
    for name, value in values.items():
        words += [f"--{name}={value}"] if value.startswith("-") else [f"--{name}", value]
    return shlex.join(words)


def run_stage(project: Project, stage: Stage, jobs: Mapping[str, str],
              started: Callable[[str], None] | None = None) -> StageResult:
    """Run one stage (or reuse its succeeded job); ``started`` is called with the new job's name
    once it runs. Raises :class:`StageFailed`."""
    spec = find_spec(stage.job_type)
    clock = time.perf_counter()
    refresh_statuses(project)
    existing = _job_with_alias(project, stage, spec.directory)
    if existing is not None and existing.status is Status.SUCCEEDED:
        return StageResult(stage, existing.name, _recorded_seconds(project, existing.name), reused=True)
    if existing is not None:
        delete_job(project, existing.name)
    values = resolve_params(stage, jobs, project.root)
    unknown = sorted(set(values) - {option.name for option in spec.options})
    if unknown:
        raise ValueError(f"stage {stage.alias}: {spec.directory} has no option {', '.join(unknown)}")
    run = create_job(project, spec, spec.params(values), alias=stage.alias)
    child = start_job(project, run, commands=[run_command_line(spec.directory, stage.alias, values)])
    if started is not None:
        started(run.name)
    status = wait_for_job(project, run.name, child)
    if status is not Status.SUCCEEDED:
        raise StageFailed(f"{stage.alias} ({run.name}) {status.value.lower()}: {_error_tail(project, run.name)}")
    return StageResult(stage, run.name, time.perf_counter() - clock, reused=False)


def run_scheme(
    project: Project,
    stages: Sequence[Stage],
    before: Callable[[int, Stage], None] | None = None,
    after: Callable[[int, StageResult], None] | None = None,
    started: Callable[[str], None] | None = None,
) -> list[StageResult]:
    """Run the stages in order; ``before``/``after`` are called with the stage's index, ``started``
    with the name of each job started."""
    aliases = [stage.alias for stage in stages]
    if len(set(aliases)) != len(aliases):
        raise ValueError("scheme stages need distinct aliases")
    jobs: dict[str, str] = {}
    results = []
    for index, stage in enumerate(stages):
        if before is not None:
            before(index, stage)
        result = run_stage(project, stage, jobs, started)
        jobs[stage.alias] = result.job
        results.append(result)
        if after is not None:
            after(index, result)
    return results


__all__ = ["Stage", "StageResult", "StageFailed", "resolve_params", "run_command_line", "run_stage", "run_scheme"]
