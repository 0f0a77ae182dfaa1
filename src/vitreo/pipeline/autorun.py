"""Run scheduled jobs in order, repeatedly: on-the-fly processing (tutorial section 2.3).

Each repeat runs the jobs one after the other, waiting for each job's input files to
exist first; a failed or aborted job stops the scheduler. Between repeats a job goes
back to Scheduled: jobs whose continue rule is NEW_INPUTS_ONLY (Import, preprocessing)
continue, so they only handle new movies and micrographs, and the others (2D/3D
classification) start again from scratch. A repeat starts at least ``wait_minutes``
after the previous one started. As in RELION, progress goes to ``pipeline_<name>.log``
and removing ``RUNNING_PIPELINER_<name>`` stops the scheduler.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vitreo.jobs.spec import ContinueRule
from vitreo.pipeline import nodes_dir
from vitreo.pipeline.job_copies import write_job_copies
from vitreo.pipeline.job_star import JOB_STAR, set_continue_flag
from vitreo.pipeline.launch import start_job, wait_for_job
from vitreo.pipeline.model import Status
from vitreo.pipeline.project import Project
from vitreo.pipeline.submit import spec_of, start_scheduled

_POLL_S = 1.0


@dataclass
class AutorunResult:
    """How an autorun ended: repeats completed, and the job that stopped it (if any)."""

    repeats_done: int
    stopped_by: str | None = None
    status: Status = Status.SUCCEEDED


class _Scheduler:
    def __init__(self, project: Project, name: str, echo: Callable[[str], None]) -> None:
        self.project = project
        self.log_path = project.root / f"pipeline_{name}.log"
        self.check_file = project.root / f"RUNNING_PIPELINER_{name}"
        self.echo = echo

    def log(self, message: str) -> None:
        line = f" + {time.ctime()} -- {message}"
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        self.echo(line)

    @property
    def stopped(self) -> bool:
        return not self.check_file.exists()

    def sleep_until(self, moment: float) -> None:
        while time.monotonic() < moment and not self.stopped:
            time.sleep(min(_POLL_S, max(moment - time.monotonic(), 0.0)))

    def wait_for_inputs(self, name: str) -> bool:
        """Wait until every input file of ``name`` exists; False when stopped meanwhile."""
        told = False
        while True:
            missing = [node for node in self.project.read().inputs_of(name) if not self.project.path(node).exists()]
            if not missing:
                return True
            if self.stopped:
                return False
            if not told:
                self.log(f"waiting for {', '.join(missing)} before running {name}")
                told = True
            time.sleep(_POLL_S)


def scheduled_jobs(project: Project) -> list[str]:
    """The Scheduled jobs, in pipeline order."""
    return [p.name for p in project.read().processes if p.status is Status.SCHEDULED]


def autorun(project: Project, references: Sequence[str] = (), repeat: int = 1, wait_minutes: float = 0.0,
            name: str = "autorun", command: str = "", echo: Callable[[str], None] = lambda line: None
            ) -> AutorunResult:
    """Run the given (default: all Scheduled) jobs ``repeat`` times (see the module docstring)."""
    if repeat < 1:
        raise ValueError("--repeat must be at least 1")
    pipeline = project.read()
    names = [project.resolve(pipeline, ref).name for ref in references] or scheduled_jobs(project)
    if not names:
        raise ValueError("no scheduled jobs to run; add some with `vitreo schedule`")
    scheduler = _Scheduler(project, name, echo)
    scheduler.check_file.touch()
    scheduler.log(f"starting scheduler {name}: {repeat} repeat(s) of {' '.join(names)}, "
                  f"at least {wait_minutes:g} min apart; remove {scheduler.check_file.name} to stop")
    result = AutorunResult(0)
    try:
        for index in range(repeat):
            started = time.monotonic()
            for job in names:
                if scheduler.stopped or not scheduler.wait_for_inputs(job):
                    scheduler.log(f"{scheduler.check_file.name} was removed: stopping")
                    return result
                scheduler.log(f"repeat {index + 1}: executing {job}")
                run = start_scheduled(project, job)
                status = wait_for_job(project, job, start_job(project, run, [command] if command else []))
                if status is not Status.SUCCEEDED:
                    scheduler.log(f"{job} {status.value.lower()}: stopping the scheduler")
                    return AutorunResult(index, job, status)
                if index + 1 < repeat:
                    _reschedule(project, job)
            result.repeats_done = index + 1
            if index + 1 < repeat:
                scheduler.sleep_until(started + 60.0 * wait_minutes)
        scheduler.log(f"performed all {repeat} repeat(s); stopping")
        return result
    finally:
        scheduler.check_file.unlink(missing_ok=True)


def _reschedule(project: Project, name: str) -> None:
    """Set a job back to Scheduled for the next repeat, continuing or restarting per its rule."""
    with project.edit(f"autorun: reschedule {name}") as pipeline:
        process = pipeline.process(name)
        if process is None:
            return
        spec = spec_of(process)
        set_continue_flag(project.path(name) / JOB_STAR, spec.continue_rule is ContinueRule.NEW_INPUTS_ONLY)
        process.status = Status.SCHEDULED
        nodes_dir.touch_outputs(project.root, pipeline, name)
        write_job_copies(project.root, pipeline, name)


__all__ = ["AutorunResult", "autorun", "scheduled_jobs"]
