"""Changes of a job's state: finishing, marking, aborting, aliasing, and noticing finished jobs.

A job's exit marker is the truth about how it ended; the status in the pipeline
follows it. ``refresh_statuses`` brings Running jobs up to date: a marker sets their
status (as RELION's GUI does), and a job whose process died on this host without a
marker is marked Failed, with a line in its run.err.
"""

from __future__ import annotations

from collections.abc import Sequence

from vitreo.jobs.spec import OutputNode
from vitreo.pipeline import aliases, nodes_dir
from vitreo.pipeline.job_copies import write_job_copies
from vitreo.pipeline.markers import exit_status, job_process_gone, request_abort, write_exit_marker
from vitreo.pipeline.model import Node, Pipeline, Status
from vitreo.pipeline.project import Project


def finish_job(project: Project, name: str, status: Status, new_outputs: Sequence[OutputNode] = ()) -> None:
    """Record how a job ended (its marker must already be written) and its late output nodes."""
    with project.edit(f"job {name} finished: {status.value}") as pipeline:
        _record_end(project, pipeline, name, status, new_outputs)


def report_lost_job(project: Project, name: str, reason: str) -> None:
    """Mark a job whose process ended without an exit marker as Failed, saying why in run.err."""
    with project.edit(f"job {name} ended") as pipeline:
        _record_end(project, pipeline, name, _ended_status(project, name, reason))


def refresh_statuses(project: Project) -> list[str]:
    """Update Running jobs that have ended; returns their names."""
    ended = [p.name for p in project.read().processes if p.status is Status.RUNNING and _has_ended(project, p.name)]
    if not ended:
        return []
    with project.edit("refresh job statuses") as pipeline:
        for name in ended:
            process = pipeline.process(name)
            if process is not None and process.status is Status.RUNNING:
                reason = "the job's process ended without reporting success or failure"
                _record_end(project, pipeline, name, _ended_status(project, name, reason))
    return ended


def _has_ended(project: Project, name: str) -> bool:
    job_dir = project.path(name)
    return exit_status(job_dir) is not None or job_process_gone(job_dir)


def _ended_status(project: Project, name: str, reason: str) -> Status:
    """The job's exit marker; without one, a FAILURE marker is written with ``reason`` in run.err."""
    job_dir = project.path(name)
    status = exit_status(job_dir)
    if status is None:
        with open(job_dir / "run.err", "a", encoding="utf-8") as fh:
            fh.write(f"vitreo: {reason}\n")
        write_exit_marker(job_dir, Status.FAILED)
        status = Status.FAILED
    return status


def _record_end(project: Project, pipeline: Pipeline, name: str, status: Status,
                new_outputs: Sequence[OutputNode] = ()) -> None:
    process = pipeline.process(name)
    if process is None:  # deleted while it ran
        return
    process.status = status
    for output in new_outputs:
        pipeline.add_output(name, Node(name + output.file, output.type_label))
    nodes_dir.touch_outputs(project.root, pipeline, name)
    write_job_copies(project.root, pipeline, name)


def mark_finished(project: Project, reference: str, failed: bool = False) -> str:
    """Mark a job as Succeeded (or Failed); outputs whose files do not exist are forgotten on success."""
    status = Status.FAILED if failed else Status.SUCCEEDED
    with project.edit(f"mark {reference} as {status.value}") as pipeline:
        process = project.resolve(pipeline, reference)
        if status is Status.SUCCEEDED:
            for node in pipeline.outputs_of(process.name):
                if not project.path(node).exists():
                    pipeline.remove_output(process.name, node)
        process.status = status
        write_exit_marker(project.path(process.name), status)
        nodes_dir.touch_outputs(project.root, pipeline, process.name)
        write_job_copies(project.root, pipeline, process.name)
        return process.name


def abort_job(project: Project, reference: str) -> str:
    """Ask a running job to stop (it then writes RELION_JOB_EXIT_ABORTED)."""
    pipeline = project.read()
    process = project.resolve(pipeline, reference)
    if process.status is not Status.RUNNING:
        raise ValueError(f"{process.name} is not running ({process.status.value})")
    request_abort(project.path(process.name))
    return process.name


def set_job_alias(project: Project, reference: str, alias: str | None) -> str | None:
    """Give a job a new alias (None or '' removes it); returns the alias as stored."""
    with project.edit(f"setAliasJob {reference}") as pipeline:
        process = project.resolve(pipeline, reference)
        aliases.set_alias(project.root, pipeline, process, alias or None)
        write_job_copies(project.root, pipeline, process.name)
        return process.alias


__all__ = ["finish_job", "report_lost_job", "refresh_statuses", "mark_finished", "abort_job", "set_job_alias"]
