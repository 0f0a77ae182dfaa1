"""Job aliases: ``Import/movies`` as a symbolic link to ``../Import/job001/``, as RELION makes them.

An alias is at least two characters, does not start with ``job``, has no
``* ? ( ) / " \\ | # < > & % { } $`` and has its spaces turned into underscores; it
is unique within its job type. In the pipeline it is stored as ``Import/movies/``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from vitreo.pipeline import nodes_dir
from vitreo.pipeline.model import Pipeline, Process

_FORBIDDEN = set('*?()/"\\|#<>&%{}$')


def alias_name(process: Process, alias: str) -> str:
    """The pipeline form of an alias for ``process`` (``Import/movies/``); ValueError when invalid."""
    alias = alias.strip().replace(" ", "_")
    if alias.endswith("/"):
        alias = alias.rstrip("/")
    if "/" in alias and alias.split("/", 1)[0] == process.type_directory:
        alias = alias.split("/", 1)[1]
    if len(alias) < 2:
        raise ValueError("an alias needs at least 2 characters")
    if alias.startswith("job"):
        raise ValueError("an alias cannot start with 'job'")
    bad = sorted(_FORBIDDEN.intersection(alias))
    if bad:
        raise ValueError(f"an alias cannot contain {' '.join(bad)}")
    return f"{process.type_directory}/{alias}/"


def link_path(root: Path, alias: str) -> Path:
    """The symbolic link of an alias (no trailing slash)."""
    return root / alias.rstrip("/")


def set_alias(root: Path, pipeline: Pipeline, process: Process, alias: str | None) -> None:
    """Give ``process`` a new alias (None removes it): update the link and ``.Nodes``."""
    new = alias_name(process, alias) if alias else None
    if new is not None and new != process.alias:
        if any(p.alias == new for p in pipeline.processes):
            raise ValueError(f"alias {new.rstrip('/')} is already used")
        if os.path.lexists(link_path(root, new)):
            raise ValueError(f"{new.rstrip('/')} already exists in the project directory")
    nodes_dir.remove_outputs(root, pipeline, process.name)
    if process.alias:
        remove_link(root, process.alias)
    process.alias = new
    if new:
        make_link(root, process)
    nodes_dir.touch_outputs(root, pipeline, process.name)


def make_link(root: Path, process: Process) -> None:
    """Create the alias link of ``process`` if it is missing (target ``../Import/job001/``)."""
    if process.alias and not os.path.lexists(link_path(root, process.alias)):
        os.symlink(f"../{process.name}", link_path(root, process.alias))


def remove_link(root: Path, alias: str) -> None:
    """Remove an alias link (only if it is a link)."""
    path = link_path(root, alias)
    if path.is_symlink():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def aliases_on_disk(root: Path) -> dict[str, str]:
    """``{job name: alias}`` from the alias links found in the job type folders."""
    found = {}
    for link in root.glob("*/*"):
        if not link.is_symlink():
            continue
        target = os.readlink(link).rstrip("/")
        parts = Path(target).parts
        if len(parts) == 3 and parts[0] == ".." and parts[1] == link.parent.name:
            found[f"{parts[1]}/{parts[2]}/"] = f"{link.parent.name}/{link.name}/"
    return found


__all__ = ["alias_name", "set_alias", "make_link", "remove_link", "link_path", "aliases_on_disk"]
