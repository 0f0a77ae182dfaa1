"""A project directory: where default_pipeline.star lives and every job runs.

All file names in a project are relative to its directory, as in RELION. Changes to
the pipeline go through ``Project.edit``: take the lock, read the latest pipeline,
change it, write it atomically, release the lock. ``Project.read`` needs no lock
(the file is always replaced whole).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.io.star import blocks_equal
from vitreo.pipeline.lock import project_lock
from vitreo.pipeline.model import Pipeline, Process
from vitreo.pipeline.pipeline_star import pipeline_blocks, read_pipeline, write_pipeline

PIPELINE_FILE = "default_pipeline.star"
HAS_CHANGED = ".pipeline_has_changed"
TRASH = "Trash"
_NUMBER_ONLY = re.compile(r"^(?:job)?0*(\d+)/?$")


def enclosing_project(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` that holds a pipeline, or None."""
    for folder in (path.resolve(), *path.resolve().parents):
        if (folder / PIPELINE_FILE).is_file():
            return folder
    return None


class Project:
    """A project directory with its pipeline (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    @classmethod
    def open(cls, root: str | Path = ".") -> Project:
        """The project in ``root``; InputError when it holds no pipeline."""
        project = cls(root)
        if not project.pipeline_path.is_file():
            raise InputError(project.pipeline_path, "not a project directory (no default_pipeline.star); "
                                                    "create one with `vitreo project init`")
        return project

    @classmethod
    def init(cls, root: str | Path = ".") -> Project:
        """Create a project in ``root``: an empty pipeline. Refuses a folder inside a project."""
        folder = Path(root)
        folder.mkdir(parents=True, exist_ok=True)
        existing = enclosing_project(folder)
        if existing is not None:
            where = "already a project" if existing == folder.resolve() else f"inside the project {existing}"
            raise InputError(folder, f"{where}; a project cannot hold another")
        project = cls(folder)
        with project_lock(project.root, "project init"):
            write_pipeline(project.pipeline_path, Pipeline())
        return project

    @property
    def pipeline_path(self) -> Path:
        return self.root / PIPELINE_FILE

    def path(self, name: str) -> Path:
        """A project file or job directory as a path."""
        return self.root / name

    def read(self) -> Pipeline:
        """The current pipeline (no lock needed)."""
        return read_pipeline(self.pipeline_path)

    @contextlib.contextmanager
    def edit(self, action: str) -> Iterator[Pipeline]:
        """Lock, read, let the body change the pipeline, and write it back if it changed."""
        with project_lock(self.root, action):
            pipeline = self.read()
            before = pipeline_blocks(pipeline)
            yield pipeline
            if not blocks_equal(pipeline_blocks(pipeline), before):
                write_pipeline(self.pipeline_path, pipeline)
                (self.root / HAS_CHANGED).touch()

    def resolve(self, pipeline: Pipeline, reference: str) -> Process:
        """A job from its name, alias, ``jobNNN`` or number; ValueError when there is none."""
        text = reference.strip()
        if text.startswith("./"):
            text = text[2:]
        name = text if text.endswith("/") else text + "/"
        for process in pipeline.processes:
            if name in (process.name, process.alias):
                return process
        if "/" not in text.rstrip("/"):
            bare = text.rstrip("/")
            match = _NUMBER_ONLY.match(bare)
            hits = [p for p in pipeline.processes
                    if (match and p.name.endswith(f"/job{int(match.group(1)):03d}/"))
                    or (p.alias and p.alias.split("/")[1] == bare)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise ValueError(f"{reference!r} could be {' or '.join(p.name for p in hits)}: give Type/{bare}")
        raise ValueError(f"no job {reference!r} in {self.pipeline_path}")


__all__ = ["PIPELINE_FILE", "HAS_CHANGED", "TRASH", "Project", "enclosing_project"]
