"""Movie-frame particles: boxes cut from every frame group of an aligned movie, as relion_preprocess
--extract_movies does, written to one stack per micrograph.

Frames ``first``..``last`` (1-based, last ≤ 0: all) are averaged in groups of ``average``
consecutive frames (an incomplete last group is dropped). Each group's boxes are prepared as
Extract's (rescale, normalise, invert: :func:`vitreo.picking.extraction.prepare_boxes`).
The stack holds frame-major images: index g·P + p (0-based) is particle p in frame group g, so
each group is written as one block. Only one frame group and its boxes are in memory at a time
(the movie is opened per group and the stack written with plain writes, so no mapping of either
file stays resident); the stack is renamed into place when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import torch

from vitreo.io.atomic import atomic_path
from vitreo.io.errors import InputError
from vitreo.io.mrc import open_stack
from vitreo.picking.extraction import ExtractSettings, cut_boxes, prepare_boxes, select_boxes


@dataclass(frozen=True)
class FrameGroups:
    """Which movie frames (0-based) make each movie-particle frame."""

    frames: tuple[tuple[int, ...], ...]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def numbers(self) -> np.ndarray:
        """1-based number of each group's first movie frame (rlnMovieFrameNumber)."""
        return np.array([group[0] + 1 for group in self.frames], dtype=np.int64)

    @property
    def size(self) -> int:
        """Movie frames per group."""
        return len(self.frames[0])


def frame_groups(n_frames: int, first: int, last: int, average: int) -> FrameGroups:
    """Groups of ``average`` frames from ``first`` to ``last`` (1-based, inclusive; last ≤ 0 or
    beyond the movie: its last frame); ValueError when no full group fits."""
    last = n_frames if last <= 0 or last > n_frames else last
    if first < 1 or average < 1:
        raise ValueError(f"first frame ({first}) and frames to average ({average}) must be at least 1")
    starts = range(first - 1, last - average + 1, average)
    groups = tuple(tuple(range(s, s + average)) for s in starts)
    if not groups:
        raise ValueError(f"no group of {average} frame(s) between frames {first} and {last} of {n_frames}")
    return FrameGroups(groups)


def extract_movie_particles(
    movie: str | Path,
    centres: np.ndarray,
    groups: FrameGroups,
    settings: ExtractSettings,
    target: str | Path,
    pixel_size: float,
    float16: bool = False,
    progress: Callable[[], None] | None = None,
) -> np.ndarray:
    """Cut the particles at ``centres`` (P, 2) (x, y) px from every frame group of ``movie`` into
    ``target`` (an MRC stack, see the module docstring); returns which particles fit (P,) bool.

    Particles whose box crosses the movie's edge are left out of the stack.
    """
    with open_stack(movie) as stack:
        shape = stack.shape
    if shape[0] <= groups.frames[-1][-1]:
        raise InputError(movie, f"has {shape[0]} frames, fewer than the {groups.frames[-1][-1] + 1} asked for")
    kept = select_boxes(centres, settings.box, shape[1:]).kept
    chosen = np.asarray(centres, float).reshape(-1, 2)[kept]
    n, box = len(chosen), settings.final_box
    if n == 0:
        return kept
    with atomic_path(target) as tmp:
        with mrcfile.new_mmap(str(tmp), shape=(n * len(groups), box, box), mrc_mode=12 if float16 else 2,
                              overwrite=True) as out:  # header and file size only: data are written below
            out.set_image_stack()
            out.voxel_size = pixel_size
            start, dtype = out.header.nbytes + out.extended_header.nbytes, out.data.dtype
        with open(tmp, "r+b") as handle:
            for g, frames in enumerate(groups.frames):
                with open_stack(movie) as stack:
                    image = torch.from_numpy(np.asarray(stack[list(frames)], dtype=np.float32).mean(0))
                boxes = prepare_boxes(cut_boxes(image, chosen, settings.box), settings)
                handle.seek(start + g * n * box * box * dtype.itemsize)
                handle.write(np.ascontiguousarray(boxes.numpy(), dtype=dtype).tobytes())
                if progress is not None:
                    progress()
    return kept


def read_movie_particles(stack: str | Path, particles: np.ndarray, n_groups: int, groups: np.ndarray | None = None,
                         ) -> torch.Tensor:
    """Images (len(particles), G', N, N) float32 of the given particle indices (0-based within the
    stack) and frame groups (default: all ``n_groups``)."""
    chosen = np.arange(n_groups) if groups is None else np.asarray(groups)
    with open_stack(stack) as images:
        n = len(images) // n_groups
        index = (chosen[None, :] * n + np.asarray(particles)[:, None]).reshape(-1)
        data = np.asarray(images[index], dtype=np.float32)
    return torch.from_numpy(data.reshape(len(particles), len(chosen), *data.shape[-2:]))


__all__ = ["FrameGroups", "frame_groups", "extract_movie_particles", "read_movie_particles"]
