"""RELION image names, ``000012@Extract/job005/Movies/mic001.mrcs``, and reading the images they name.

In a name the index before ``@`` is 1-based (image 12 above); vitreo keeps it
0-based inside (11) and writes it back zero-padded to six digits, as RELION
does. A name without ``@`` is a whole file holding one image. Relative paths
are relative to the project directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from vitreo.io.errors import InputError
from vitreo.io.mrc import open_stack

NO_INDEX = -1  # in index arrays: the name has no "@", the file is one image
READ_BATCH = 4096  # images gathered per read from one stack


@dataclass(frozen=True)
class ImageRef:
    """One parsed image name: ``index`` is 0-based, None for a whole-file name."""

    index: int | None
    path: str

    def __str__(self) -> str:
        return format_image_name(self.index, self.path)


def parse_image_name(name: str) -> ImageRef:
    """Parse one RELION image name, e.g. ``"000012@stack.mrcs"`` -> ImageRef(11, "stack.mrcs")."""
    indices, paths = parse_image_names([name])
    index = int(indices[0])
    return ImageRef(None if index == NO_INDEX else index, str(paths[0]))


def parse_image_names(names: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Parse many image names at once (about 1 s per million names).

    Returns (0-based indices as int64, with NO_INDEX where a name has no ``@``;
    paths as a numpy str array). A malformed name raises InputError quoting it.
    """
    names = np.asarray(names, dtype=str).reshape(-1)
    if names.size == 0:
        return np.empty(0, dtype=np.int64), names
    before, at, after = np.strings.partition(names, "@")
    has_index = at == "@"
    paths = after if has_index.all() else np.where(has_index, after, before)
    indices = np.full(names.shape, NO_INDEX, dtype=np.int64)
    if has_index.any():
        digits = before[has_index]
        ok = np.strings.isdigit(digits)
        if not ok.all():
            _bad_name(names[has_index][~ok][0], "the part before '@' must be a positive whole number")
        indices[has_index] = digits.astype(np.int64) - 1
    if (has_index & (indices < 0)).any():
        _bad_name(names[has_index & (indices < 0)][0], "image numbers start at 1")
    empty = np.strings.str_len(paths) == 0
    if empty.any():
        _bad_name(names[empty][0], "no file name")
    return indices, paths


def format_image_name(index: int | None, path: str | os.PathLike[str]) -> str:
    """RELION's form of a 0-based index and a path: (11, "s.mrcs") -> ``"000012@s.mrcs"``."""
    return str(path) if index is None else f"{index + 1:06d}@{path}"


def format_image_names(indices: ArrayLike, paths: ArrayLike) -> np.ndarray:
    """Vectorised :func:`format_image_name`; NO_INDEX entries give the bare path."""
    indices = np.asarray(indices, dtype=np.int64)
    paths = np.broadcast_to(np.asarray(paths, dtype=str), indices.shape)
    numbered = np.strings.add(np.strings.zfill((indices + 1).astype(str), 6), "@")
    return np.strings.add(np.where(indices == NO_INDEX, "", numbered), paths)


def resolve(path: str | os.PathLike[str], project_dir: str | os.PathLike[str] = ".") -> Path:
    """The file a STAR path names: relative paths are taken from ``project_dir``, absolute ones kept."""
    path = Path(path)
    return path if path.is_absolute() else Path(project_dir) / path


def read_images(names: ArrayLike, project_dir: str | os.PathLike[str] = ".", dtype: DTypeLike = np.float32) -> np.ndarray:
    """Read the images that RELION image names point to, as (n, y, x) in the input order.

    Each stack is opened once (memory-mapped) and its images are gathered in
    index order, batch by batch. A missing file, an index past the end of its
    stack, or images of different sizes raise InputError naming the file.
    """
    indices, paths = parse_image_names(names)
    if paths.size == 0:
        return np.empty((0, 0, 0), dtype=dtype)
    by_file = np.argsort(paths, kind="stable")
    sorted_paths = paths[by_file]
    out: np.ndarray | None = None
    for rows in np.split(by_file, np.flatnonzero(sorted_paths[1:] != sorted_paths[:-1]) + 1):
        name = str(paths[rows[0]])
        try:
            stack = open_stack(resolve(name, project_dir))
        except InputError as err:
            example = format_image_name(_as_index(indices[rows[0]]), name)
            raise InputError(err.path, f"{err.problem} (needed for image {example})") from None
        with stack:
            wanted = _indices_in(stack.info.path, len(stack), indices[rows], name)
            if out is None:
                out = np.empty((indices.size,) + stack.shape[1:], dtype=dtype)
            elif stack.shape[1:] != out.shape[1:]:
                ny, nx = stack.shape[1:]
                raise InputError(stack.info.path, f"images are {nx}x{ny} pixels, others are {out.shape[2]}x{out.shape[1]}")
            order = np.argsort(wanted, kind="stable")
            for batch in np.array_split(order, max(1, -(-order.size // READ_BATCH))):
                out[rows[batch]] = stack[wanted[batch]]
    assert out is not None
    return out


def _indices_in(path: str, n_images: int, indices: np.ndarray, name: str) -> np.ndarray:
    """Check 0-based indices against a stack of ``n_images``; a whole-file name needs a single image."""
    if (indices == NO_INDEX).any():
        if n_images != 1:
            raise InputError(path, f"image name '{name}' has no index, but the file holds {n_images} images")
        indices = np.where(indices == NO_INDEX, 0, indices)
    beyond = indices >= n_images
    if beyond.any():
        raise InputError(path, f"image {int(indices[beyond][0]) + 1} requested, but the stack holds {n_images} images")
    return indices


def _as_index(index: np.integer) -> int | None:
    return None if index == NO_INDEX else int(index)


def _bad_name(name: str, problem: str) -> NoReturn:
    raise InputError(None, f"bad image name '{name}': {problem}")
