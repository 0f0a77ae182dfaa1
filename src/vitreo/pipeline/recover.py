"""Rebuild a damaged or lost default_pipeline.star from the copies kept in job directories.

The most recent readable ``<job>/default_pipeline.star`` (the highest job counter) is
the starting point; jobs whose directories are gone are dropped, and every job
directory it lacks is added from its own ``job_pipeline.star``. Statuses are then
taken from the exit markers, aliases from the alias links, and the job counter is set
past the highest job number. The damaged file is kept beside it with a
``.damaged-<time>`` suffix.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from vitreo.pipeline import aliases, nodes_dir
from vitreo.pipeline.job_copies import JOB_PIPELINE, PIPELINE_COPY
from vitreo.pipeline.lock import project_lock
from vitreo.pipeline.markers import exit_status, job_process_gone
from vitreo.pipeline.model import Pipeline, Status, job_number
from vitreo.pipeline.pipeline_star import read_pipeline_or_none, write_pipeline
from vitreo.pipeline.project import TRASH, Project

_JOB_DIR = re.compile(r"^job\d+$")


@dataclass
class Recovery:
    """What ``recover_pipeline`` did."""

    base: str | None = None
    added: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    backup: Path | None = None


def job_directories(root: Path) -> list[str]:
    """Names (``Import/job001/``) of the job directories in a project, in job-number order."""
    found = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.is_symlink() or folder.name.startswith(".") or folder.name == TRASH:
            continue
        for job in folder.iterdir():
            if _JOB_DIR.match(job.name) and job.is_dir() and not job.is_symlink():
                found.append(f"{folder.name}/{job.name}/")
    return sorted(found, key=job_number)


def recover_pipeline(project: Project) -> Recovery:
    """Rebuild default_pipeline.star (see the module docstring)."""
    root = project.root
    report = Recovery()
    with project_lock(root, "project recover"):
        names = job_directories(root)
        pipeline, report.base = _newest_copy(root, names)
        report.dropped = [p.name for p in pipeline.processes if p.name not in names]
        pipeline.extract(report.dropped)
        for name in names:
            if pipeline.process(name) is None:
                part = read_pipeline_or_none(root / name / JOB_PIPELINE)
                if part is not None and part.process(name) is not None:
                    pipeline.merge(part)
                    report.added.append(name)
        pipeline.sort_processes()
        _apply_disk_state(root, pipeline)
        numbers = [job_number(p.name) for p in pipeline.processes]
        pipeline.job_counter = max([pipeline.job_counter, *(n + 1 for n in numbers)])
        if project.pipeline_path.exists():
            report.backup = project.pipeline_path.with_name(
                f"{project.pipeline_path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            project.pipeline_path.rename(report.backup)
        write_pipeline(project.pipeline_path, pipeline)
        nodes_dir.remake(root, pipeline)
    return report


def _newest_copy(root: Path, names: list[str]) -> tuple[Pipeline, str | None]:
    best: tuple[int, float, str, Pipeline] | None = None
    for name in names:
        path = root / name / PIPELINE_COPY
        copy = read_pipeline_or_none(path)
        if copy is None:
            continue
        key = (copy.job_counter, path.stat().st_mtime, name, copy)
        if best is None or key[:2] > best[:2]:
            best = key
    return (best[3], best[2]) if best is not None else (Pipeline(), None)


def _apply_disk_state(root: Path, pipeline: Pipeline) -> None:
    """Statuses from exit markers (a Running job whose process is gone failed), aliases from links."""
    links = aliases.aliases_on_disk(root)
    for process in pipeline.processes:
        marker = exit_status(root / process.name)
        if marker is not None:
            process.status = marker
        elif process.status is Status.RUNNING and job_process_gone(root / process.name):
            process.status = Status.FAILED
        process.alias = links.get(process.name)


__all__ = ["Recovery", "job_directories", "recover_pipeline"]
