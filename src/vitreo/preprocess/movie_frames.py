"""A movie's frames ready for alignment: the frames of the sum, gain-corrected, defects filled.

Steps, as RELION's own motion correction: read frames ``first``..``last`` (1-based,
``last`` ≤ 0 meaning the last frame); multiply by the gain reference (already rotated and
flipped); mark bad pixels (the defect file, zeros of the gain) and hot pixels (unaligned,
gain-corrected sum above mean + 6 sd among the remaining pixels); fill every bad pixel in
every frame from a random good neighbour (``io.defects.fill_defects``, seeded per movie so
reruns give the same micrograph). Bad input raises InputError naming the movie.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitreo.io.defects import fill_defects, find_hot_pixels, load_defect_mask
from vitreo.io.errors import InputError
from vitreo.io.gain import apply_gain, gain_defect_mask
from vitreo.io.movies import open_movie


@dataclass(frozen=True)
class DetectorCorrection:
    """What is the same for every movie of a job: the oriented gain (or None) and the defect file (or None)."""

    gain: np.ndarray | None = None
    gain_path: str | None = None
    defect_path: str | None = None


@dataclass(frozen=True)
class MovieFrames:
    """Frames (F, ny, nx) float32 of the sum, their 0-based movie indices, the movie's frame count,
    the hot pixels found (n, 2) as (x, y), and the mean and sd of the unaligned sum (for the log)."""

    frames: np.ndarray
    indices: np.ndarray
    n_movie_frames: int
    hot_pixels: np.ndarray
    sum_mean: float
    sum_sd: float
    n_defects: int

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.frames.shape[1]), int(self.frames.shape[2]))


def frame_range(n_movie_frames: int, first: int, last: int) -> range:
    """0-based indices of frames ``first``..``last`` (1-based; ``last`` ≤ 0: to the end); ValueError if impossible."""
    stop = n_movie_frames if last <= 0 else last
    if first < 1 or stop > n_movie_frames or first > stop:
        asked = f"{first}..{'end' if last <= 0 else last}"
        raise ValueError(f"has {n_movie_frames} frames, fewer than asked for (frames {asked})")
    return range(first - 1, stop)


def read_movie_frames(path: str | os.PathLike[str], first: int, last: int, correction: DetectorCorrection,
                      min_frames: int = 1) -> MovieFrames:
    """Read, gain-correct and defect-fill frames ``first``..``last`` of a movie (see module docstring)."""
    with open_movie(path) as movie:
        try:
            indices = frame_range(movie.n_frames, first, last)
        except ValueError as err:
            raise InputError(path, str(err)) from None
        if len(indices) < min_frames:
            raise InputError(path, f"only {len(indices)} frames to sum, at least {min_frames} are needed")
        frames = movie.frames(indices.start, indices.stop)
        n_movie_frames = movie.n_frames
    if not np.all(np.isfinite(frames)):
        raise InputError(path, "frames hold NaN or infinite values")
    shape = frames.shape[1:]
    bad = np.zeros(shape, dtype=bool)
    if correction.gain is not None:
        if correction.gain.shape != shape:
            raise InputError(path, f"frames are {shape[1]}x{shape[0]} but the gain reference {correction.gain_path} "
                                   f"is {correction.gain.shape[1]}x{correction.gain.shape[0]} (check gain rotation)")
        frames = apply_gain(frames, correction.gain)
        bad |= gain_defect_mask(correction.gain)
    if correction.defect_path:
        bad |= load_defect_mask(correction.defect_path, shape)
    total = frames.sum(axis=0, dtype=np.float64)
    good = total[~bad]
    hot = np.zeros(shape, dtype=bool)
    if good.size:
        hot[~bad] = find_hot_pixels(good)
    hot_y, hot_x = np.nonzero(hot)
    bad |= hot
    if bad.any():
        rng = np.random.default_rng(zlib.crc32(Path(path).name.encode()))
        frames = fill_defects(frames, bad, rng)
    return MovieFrames(np.ascontiguousarray(frames, dtype=np.float32), np.arange(indices.start, indices.stop),
                       n_movie_frames, np.stack([hot_x, hot_y], axis=1), float(good.mean()) if good.size else 0.0,
                       float(good.std()) if good.size else 0.0, int(bad.sum() - hot.sum()))


__all__ = ["DetectorCorrection", "MovieFrames", "frame_range", "read_movie_frames"]
