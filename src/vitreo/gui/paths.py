"""Project files named by the browser: resolved, and refused when they lead outside the project.

A name is taken relative to the project directory (RELION style, ``Import/job001/movies.star``).
Symbolic links are followed before the check, so a link pointing out of the project (or
``..`` in the name) is refused just like an absolute path elsewhere.
"""

from __future__ import annotations

from pathlib import Path


class PathRefused(Exception):
    """A file name that leads outside the project directory (answered with 403)."""


def project_file(root: Path, name: str) -> Path:
    """The real path of project file ``name``; PathRefused when it is outside ``root``."""
    if not name or "\x00" in name:
        raise PathRefused(f"{name!r}: not a file name")
    base = root.resolve()
    resolved = (base / name).resolve()
    if not resolved.is_relative_to(base):
        raise PathRefused(f"{name}: outside the project directory")
    return resolved


def relative_name(root: Path, path: Path) -> str:
    """``path`` (inside the project) as a project-relative name with forward slashes."""
    return path.resolve().relative_to(root.resolve()).as_posix()


__all__ = ["PathRefused", "project_file", "relative_name"]
