"""Helpers shared by the pipeline and job tests."""

from __future__ import annotations

import os
from pathlib import Path

OLD = 1_000_000_000  # a modification time long ago: the file is complete


def make_files(folder: Path, names: list[str], text: str = "x", old: bool = True) -> list[Path]:
    """Create small files (with an old modification time unless ``old`` is False)."""
    paths = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if old:
            os.utime(path, (OLD, OLD))
        paths.append(path)
    return paths
