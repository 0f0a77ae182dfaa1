"""Which newly found files are complete, so on-the-fly Import never takes half a file.

A file is left for a later run when
- its name is a temporary one (hidden ``.name`` as rsync and many copiers write, or
  ending in ``~``, ``.tmp``, ``.temp``, ``.part``, ``.partial``, ``.filepart``,
  ``.crdownload``, ``.download``, ``.swp``);
- it is an MRC file shorter than its header promises;
- it was modified in the last ``quiet_s`` seconds and its size or modification time
  changes during a short probe of ``probe_s`` seconds (a copy in progress).

Defaults: ``quiet_s`` = 10 s and ``probe_s`` = 1 s, or the environment variables
VITREO_IMPORT_QUIET_SECONDS and VITREO_IMPORT_PROBE_SECONDS. A copy that stalls for
longer than the probe while younger than ``quiet_s`` is not detected; copy to a
temporary name and rename when done to be safe.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.io.mrc import read_header_info

_TEMPORARY = re.compile(r"^\.|~$|\.(tmp|temp|part|partial|filepart|crdownload|download|swp)$", re.IGNORECASE)
_MRC_SUFFIXES = (".mrc", ".mrcs", ".st", ".map")


def _env_seconds(name: str, default: float) -> float:
    try:
        return max(float(os.environ.get(name, default)), 0.0)
    except ValueError:
        return default


def is_temporary_name(path: str | os.PathLike[str]) -> bool:
    """True for names copiers use while a file is still being written."""
    return bool(_TEMPORARY.search(Path(path).name))


def is_incomplete_mrc(path: str | os.PathLike[str]) -> bool:
    """True for an MRC file whose data block is shorter than its header says (or no header yet)."""
    if not str(path).lower().endswith(_MRC_SUFFIXES):
        return False
    try:
        read_header_info(path)
    except (InputError, OSError, ValueError):
        return True
    return False


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:  # renamed or removed since it was listed
        return None


def split_settled(paths: Sequence[str], quiet_s: float | None = None,
                  probe_s: float | None = None) -> tuple[list[str], list[str]]:
    """(complete files, files still being written), each in input order."""
    quiet_s = _env_seconds("VITREO_IMPORT_QUIET_SECONDS", 10.0) if quiet_s is None else quiet_s
    probe_s = _env_seconds("VITREO_IMPORT_PROBE_SECONDS", 1.0) if probe_s is None else probe_s
    waiting: set[str] = {p for p in paths if is_temporary_name(p)}
    now = time.time()
    stats = {p: _stat(p) for p in paths if p not in waiting}
    waiting.update(p for p, st in stats.items() if st is None)
    young = [p for p, st in stats.items() if st is not None and now - st.st_mtime < quiet_s]
    if young and probe_s > 0:
        time.sleep(probe_s)
        for p in young:
            before, after = stats[p], _stat(p)
            if after is None or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                waiting.add(p)
    waiting.update(p for p in stats if p not in waiting and is_incomplete_mrc(p))
    return [p for p in paths if p not in waiting], [p for p in paths if p in waiting]


__all__ = ["is_temporary_name", "is_incomplete_mrc", "split_settled"]
