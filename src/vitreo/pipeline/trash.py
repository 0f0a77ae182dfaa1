"""Delete jobs to ``Trash/``, undelete them, and empty the trash, as RELION does.

Deleting a job also deletes every job that depends on it. Their directories move to
``Trash/<Type>/jobNNN/``, their alias links and ``.Nodes`` entries are removed, and the
part of the pipeline they formed is saved as ``deleted_pipeline.star`` in the first
deleted job's directory, from where ``undelete`` puts everything back (files an
earlier cleaning moved to the trash come back with the job).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vitreo.pipeline import aliases, nodes_dir
from vitreo.pipeline.model import Pipeline, Status
from vitreo.pipeline.pipeline_star import read_pipeline, write_pipeline
from vitreo.pipeline.project import TRASH, Project

DELETED_PIPELINE = "deleted_pipeline.star"


def delete_job(project: Project, reference: str) -> list[str]:
    """Move a job and all jobs downstream of it to the trash; returns their names."""
    with project.edit(f"deleteJob {reference}") as pipeline:
        process = project.resolve(pipeline, reference)
        names = pipeline.downstream(process.name)
        doomed = [p for p in pipeline.processes if p.name in names]
        running = [p.name for p in doomed if p.status is Status.RUNNING]
        if running:
            raise ValueError(f"{', '.join(running)} is still running: abort it before deleting")
        for doomed_process in doomed:
            nodes_dir.remove_outputs(project.root, pipeline, doomed_process.name)
            if doomed_process.alias:
                aliases.remove_link(project.root, doomed_process.alias)
        deleted = pipeline.extract(names)
        write_pipeline(project.path(names[0]) / DELETED_PIPELINE, deleted)
        for name in names:
            _move(project.path(name), project.root / TRASH / name)
    return names


def undelete_job(project: Project, reference: str) -> list[str]:
    """Bring back a deleted job with every job deleted along with it; returns their names."""
    name = reference.strip().removeprefix(f"{TRASH}/").rstrip("/") + "/"
    record = _deleted_record(project, name)
    deleted = read_pipeline(record)
    with project.edit(f"undeleteJob {name}") as pipeline:
        for process in deleted.processes:
            if process.alias and any(p.alias == process.alias for p in pipeline.processes):
                process.alias = None  # the alias was given to another job meanwhile
        pipeline.merge(deleted)
        pipeline.sort_processes()
        for process in deleted.processes:
            _move(project.root / TRASH / process.name, project.path(process.name))
            aliases.make_link(project.root, process)
            nodes_dir.touch_outputs(project.root, pipeline, process.name)
        (project.path(deleted.processes[0].name) / DELETED_PIPELINE).unlink(missing_ok=True)
    return [p.name for p in deleted.processes]


def empty_trash(project: Project) -> int:
    """Remove the trash for good; returns the number of files removed."""
    trash = project.root / TRASH
    if not trash.exists():
        return 0
    count = sum(1 for path in trash.rglob("*") if path.is_file() or path.is_symlink())
    shutil.rmtree(trash)
    return count


def _deleted_record(project: Project, name: str) -> Path:
    """The deleted_pipeline.star of the deletion that removed job ``name``."""
    trash = project.root / TRASH
    for record in sorted(trash.glob(f"*/*/{DELETED_PIPELINE}")):
        part: Pipeline = read_pipeline(record)
        if part.process(name) is not None:
            return record
    raise ValueError(f"{name} is not in {TRASH}/ (or was not deleted by vitreo or RELION)")


def _move(source: Path, target: Path) -> None:
    """Move a directory; into an existing one (files cleaned earlier), its entries are merged."""
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))
        return
    for entry in list(source.iterdir()):
        destination = target / entry.name
        if entry.is_dir() and not entry.is_symlink() and destination.is_dir():
            _move(entry, destination)
        else:
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            shutil.move(str(entry), str(destination))
    source.rmdir()


__all__ = ["DELETED_PIPELINE", "delete_job", "undelete_job", "empty_trash"]
