"""Gentle and harsh cleaning of finished jobs: intermediate files move to ``Trash/``.

Every job loses its ``*.old`` files (left by continuations); each job type adds its own
globs (``JobSpec.gentle_clean``; harsh cleaning also ``harsh_clean``). Files that are
nodes of the pipeline, and the job's own bookkeeping (job.star, note.txt, run.out,
run.err, exit markers, pipeline copies) are never removed. Only Succeeded jobs are
cleaned, and a job directory holding a file ``NO_HARSH_CLEAN`` is spared harsh cleaning.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vitreo.jobs.registry import spec_for_label
from vitreo.pipeline.job_copies import JOB_PIPELINE, PIPELINE_COPY
from vitreo.pipeline.job_star import JOB_STAR
from vitreo.pipeline.markers import EXIT_ABORTED, EXIT_FAILURE, EXIT_SUCCESS
from vitreo.pipeline.model import Pipeline, Process, Status
from vitreo.pipeline.notes import NOTE_FILE
from vitreo.pipeline.project import TRASH, Project

NO_HARSH_CLEAN = "NO_HARSH_CLEAN"
ALWAYS_CLEANED = ("*.old",)
_KEPT = {JOB_STAR, NOTE_FILE, "run.out", "run.err", EXIT_SUCCESS, EXIT_FAILURE, EXIT_ABORTED, JOB_PIPELINE,
         PIPELINE_COPY, NO_HARSH_CLEAN}


def clean_patterns(process: Process, harsh: bool) -> tuple[str, ...]:
    """The globs (relative to the job directory) that cleaning a job removes."""
    spec = spec_for_label(process.type_label)
    if spec is None:
        return ALWAYS_CLEANED
    return ALWAYS_CLEANED + spec.gentle_clean + (spec.harsh_clean if harsh else ())


def files_to_clean(project: Project, pipeline: Pipeline, process: Process, harsh: bool) -> list[Path]:
    """The files cleaning would move to the trash."""
    job_dir = project.path(process.name)
    nodes = {project.path(name).resolve() for name in pipeline.outputs_of(process.name)}
    found: dict[Path, None] = {}
    for pattern in clean_patterns(process, harsh):
        for path in sorted(job_dir.glob(pattern)):
            if path.name in _KEPT and path.parent == job_dir:
                continue
            if path.resolve() in nodes or any(node.is_relative_to(path.resolve()) for node in nodes):
                continue
            found[path] = None
    return list(found)


def clean_job(project: Project, reference: str, harsh: bool) -> list[Path]:
    """Clean one Succeeded job; returns the paths moved to the trash (relative to the project)."""
    pipeline = project.read()
    process = project.resolve(pipeline, reference)
    if process.status is not Status.SUCCEEDED:
        raise ValueError(f"only finished jobs can be cleaned; {process.name} is {process.status.value}")
    if harsh and (project.path(process.name) / NO_HARSH_CLEAN).exists():
        raise ValueError(f"{process.name} holds {NO_HARSH_CLEAN}: it is spared harsh cleaning")
    return _to_trash(project, files_to_clean(project, pipeline, process, harsh))


def clean_project(project: Project, harsh: bool) -> dict[str, list[Path]]:
    """Clean every Succeeded job (harsh cleaning skips jobs with NO_HARSH_CLEAN)."""
    pipeline = project.read()
    moved = {}
    for process in pipeline.processes:
        if process.status is not Status.SUCCEEDED:
            continue
        if harsh and (project.path(process.name) / NO_HARSH_CLEAN).exists():
            continue
        moved[process.name] = _to_trash(project, files_to_clean(project, pipeline, process, harsh))
    return moved


def _to_trash(project: Project, paths: list[Path]) -> list[Path]:
    moved = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            continue  # inside a folder moved already
        relative = path.relative_to(project.root)
        target = project.root / TRASH / relative
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
        moved.append(relative)
    return moved


__all__ = ["NO_HARSH_CLEAN", "clean_patterns", "files_to_clean", "clean_job", "clean_project"]
