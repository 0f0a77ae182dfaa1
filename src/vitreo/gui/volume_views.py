"""3D class references shown as flat tiles: the views along z, y and x side by side.

A view is a projection (sum along the axis) or the central section (index N//2). For a map
(z, y, x) the tile is [view along z: (y, x) | along y: (z, x) | along x: (z, y)], each padded
at the bottom to the tallest, so a cubic map of box N gives an (N, 3N) tile.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.mrc import open_stack

VIEWS = ("projection", "slice")


def volume_tile(volume: np.ndarray, view: str = "projection") -> np.ndarray:
    """The (max(ny, nz), nx + nx + ny) tile of ``volume`` (z, y, x); ``view`` is projection or slice."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    if volume.ndim != 3:
        raise ValueError(f"a 3D map is needed, not an array of shape {volume.shape}")
    if view == "projection":
        planes = [volume.sum(axis=axis, dtype=np.float64) for axis in range(3)]
    else:
        planes = [np.take(volume, volume.shape[axis] // 2, axis=axis).astype(np.float64) for axis in range(3)]
    height = max(plane.shape[0] for plane in planes)
    padded = [np.pad(plane, ((0, height - plane.shape[0]), (0, 0)), constant_values=float(plane.mean()))
              for plane in planes]
    return np.concatenate(padded, axis=1).astype(np.float32)


def read_tile(path: Path, view: str) -> np.ndarray:
    """The tile of the map in ``path``, kept while the file is unchanged (see :func:`volume_tile`)."""
    stat = path.stat()
    return _cached_tile(str(path), stat.st_mtime_ns, stat.st_size, view)


@functools.lru_cache(maxsize=256)
def _cached_tile(path: str, mtime_ns: int, size: int, view: str) -> np.ndarray:
    with open_stack(path) as stack:
        if not stack.info.is_volume:
            raise InputError(path, "not a 3D map")
        tile = volume_tile(stack[:].astype(np.float32), view)
    tile.setflags(write=False)
    return tile


__all__ = ["VIEWS", "volume_tile", "read_tile"]
