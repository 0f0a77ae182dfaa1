"""Detector defects: defect files, hot-pixel detection and filling of bad pixels.

Coordinates are 0-based pixels of the movie frame as vitreo reads it (RELION's
orientation, see :mod:`vitreo.io.movies`), before any gain rotation, flip or
binning: x is the column, y the row. A defect file is either

- text (MotionCor2 / RELION ``--defect_file``): one defect per line, ``x y w h``
  for a rectangle of w columns and h rows from (x, y), or ``x y`` for a single
  pixel; ``#`` starts a comment; parts outside the frame are ignored, as RELION
  does. SerialEM defect files use another format and are refused (convert them
  with IMOD's ``clip defect``, as RELION advises);
- a defect map (.mrc, .mrcs, .tif, .tiff) the size of a frame: non-zero = bad.

Filling follows RELION's own motion correction: each bad pixel gets the value
of a good pixel picked at random within ±2 pixels (5×5 window) when more than 6
such neighbours exist; otherwise a Gaussian draw with the frame's good-pixel
mean and standard deviation (RELION uses the sum's statistics divided by the
number of frames; per-frame good-pixel statistics are the sounder choice).
Picking a real neighbour keeps the local noise statistics, which an average
would smooth away.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.movies import open_movie

MASK_SUFFIXES = (".mrc", ".mrcs", ".tif", ".tiff")
HOT_PIXEL_SIGMA = 6.0  # RELION motioncorr_own: hot if the unaligned sum exceeds mean + 6 sd
FILL_RADIUS = 2  # RELION's D_MAX for counting detectors (4 for EER)
FILL_MIN_GOOD = 6  # RELION's NUM_MIN_OK: a neighbour is copied only when more than this many are good
_SERIALEM_KEYS = ("CameraSize", "RotationAndFlip", "K2Type", "Bad")


def read_defect_text(path: str | os.PathLike[str]) -> np.ndarray:
    """Parse a text defect file into int64 rows (x, y, w, h); single pixels get w = h = 1."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except UnicodeDecodeError:
        raise InputError(path, f"not a text defect file; defect maps must be {', '.join(MASK_SUFFIXES)}") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        values = [_whole_number(word) for word in words]
        if any(value is None for value in values):
            if any(key in line for key in _SERIALEM_KEYS):
                raise InputError(
                    path,
                    "SerialEM defect files are not supported; make a defect map with IMOD: "
                    "clip defect -D defects.txt -f tif movie.mrc defect_map.tif",
                    line=number,
                )
            raise InputError(path, f"expected whole numbers 'x y w h' or 'x y', got '{line.strip()}'", line=number)
        if len(values) == 2:
            values += [1, 1]
        elif len(values) != 4:
            raise InputError(path, f"expected 4 numbers (x y width height) or 2 (x y), found {len(values)}", line=number)
        if values[2] <= 0 or values[3] <= 0:  # type: ignore[operator]
            raise InputError(path, "width and height must be positive", line=number)
        rows.append(values)
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def rectangles_to_mask(rectangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool (y, x) mask, True inside each (x, y, w, h) rectangle, clipped to the frame."""
    mask = np.zeros(shape, dtype=bool)
    for x, y, w, h in np.asarray(rectangles, dtype=np.int64).reshape(-1, 4):
        mask[max(y, 0) : max(y + h, 0), max(x, 0) : max(x + w, 0)] = True
    return mask


def load_defect_mask(path: str | os.PathLike[str], shape: tuple[int, int]) -> np.ndarray:
    """Read a defect file (text or map, see module doc) as a bool (y, x) mask of ``shape``; True = bad."""
    shape = (int(shape[0]), int(shape[1]))
    if Path(path).suffix.lower() not in MASK_SUFFIXES:
        return rectangles_to_mask(read_defect_text(path), shape)
    with open_movie(path) as image:
        if image.n_frames != 1:
            raise InputError(path, f"defect map holds {image.n_frames} images, expected 1")
        if image.shape != shape:
            raise InputError(path, f"defect map is {image.shape[1]}x{image.shape[0]}, movie frames are {shape[1]}x{shape[0]}")
        return image.frame(0) != 0


def find_hot_pixels(frame_sum: np.ndarray, n_sigma: float = HOT_PIXEL_SIGMA) -> np.ndarray:
    """Hot pixels of an unaligned, gain-corrected frame sum: value > mean + n_sigma × sd (RELION, 6 sd).

    Mean and (population) sd are over the whole image, as in RELION.
    """
    values = np.asarray(frame_sum, dtype=np.float64)
    return values > values.mean() + n_sigma * values.std()


def fill_defects(
    frames: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    radius: int = FILL_RADIUS,
    min_good: int = FILL_MIN_GOOD,
) -> np.ndarray:
    """Replace bad pixels of a frame (y, x) or frames (k, y, x); return a float32 copy.

    Each bad pixel, in each frame independently, takes the value of a random
    good pixel within ``radius`` (a (2r+1)² window) when more than ``min_good``
    are good, else a Gaussian draw from that frame's good-pixel mean and sd.
    """
    out = np.array(frames, dtype=np.float32, ndmin=3, copy=True)
    mask = np.asarray(mask, dtype=bool)
    if out.shape[1:] != mask.shape:
        raise ValueError(f"mask shape {mask.shape} does not match frame shape {out.shape[1:]}")
    ys, xs = np.nonzero(mask)
    if ys.size:
        if ys.size == mask.size:
            raise ValueError("every pixel is marked bad")
        nb_y, nb_x, good = _neighbours(ys, xs, mask, radius)
        n_good = good.sum(axis=1)
        copied = np.flatnonzero(n_good > min_good)
        drawn = np.flatnonzero(n_good <= min_good)
        rank_limit = np.cumsum(good[copied], axis=1)  # rank r picks the first column where rank_limit > r
        for frame in out:
            if copied.size:
                rank = (rng.random(copied.size) * n_good[copied]).astype(np.int64)
                column = np.argmax(rank_limit > rank[:, None], axis=1)
                frame[ys[copied], xs[copied]] = frame[nb_y[copied, column], nb_x[copied, column]]
            if drawn.size:
                mean, sd = _good_pixel_stats(frame, mask)
                frame[ys[drawn], xs[drawn]] = rng.normal(mean, sd, drawn.size)
    return out if np.ndim(frames) == 3 else out[0]


def _neighbours(ys: np.ndarray, xs: np.ndarray, mask: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window coordinates (n_bad, (2r+1)²) around each bad pixel, and which of them are good and inside."""
    offsets = np.arange(-radius, radius + 1)
    dy, dx = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
    nb_y = ys[:, None] + dy[None, :]
    nb_x = xs[:, None] + dx[None, :]
    inside = (nb_y >= 0) & (nb_y < mask.shape[0]) & (nb_x >= 0) & (nb_x < mask.shape[1])
    nb_y = np.clip(nb_y, 0, mask.shape[0] - 1)
    nb_x = np.clip(nb_x, 0, mask.shape[1] - 1)
    return nb_y, nb_x, inside & ~mask[nb_y, nb_x]


def _good_pixel_stats(frame: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    good = frame[~mask].astype(np.float64)
    return float(good.mean()), float(good.std())


def _whole_number(word: str) -> int | None:
    try:
        value = float(word)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None
