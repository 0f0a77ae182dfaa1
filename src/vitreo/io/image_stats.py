"""Summary of an image, stack, map or movie file: shape, mode, voxel size and statistics.

Statistics are accumulated in float64 over chunks of sections, so files larger than
memory are summarised without loading them whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.movies import FORMATS, open_movie
from vitreo.io.mrc import open_stack, read_header_info

MODE_NAMES = {
    0: "0 (int8)",
    1: "1 (int16)",
    2: "2 (float32)",
    6: "6 (uint16)",
    12: "12 (float16)",
    101: "101 (4-bit counts)",
}
CHUNK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class ImageSummary:
    """Facts about one file. ``shape`` is (n or z, y, x); ``kind`` is image, stack, volume or movie."""

    path: str
    kind: str
    shape: tuple[int, int, int]
    mode_description: str
    voxel_size: float  # Å along x; 0.0 when the file records none
    minimum: float
    maximum: float
    mean: float
    std: float


class _RunningStats:
    """Min, max, mean and std accumulated chunk by chunk (float64)."""

    def __init__(self) -> None:
        self.count, self.total, self.total_sq = 0, 0.0, 0.0
        self.minimum, self.maximum = np.inf, -np.inf

    def add(self, chunk: np.ndarray) -> None:
        values = chunk.astype(np.float64, copy=False)
        self.count += values.size
        self.total += float(values.sum())
        self.total_sq += float(np.square(values).sum())
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))

    def mean_std(self) -> tuple[float, float]:
        mean = self.total / self.count
        return mean, float(np.sqrt(max(self.total_sq / self.count - mean * mean, 0.0)))


def summarise_image(path: str | os.PathLike[str]) -> ImageSummary:
    """Summarise an MRC/MRCS/map (plain or gzip) or TIFF file."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if FORMATS.get(path.suffix.lower()) == "tiff":
        return _summarise_tiff(path)
    return _summarise_mrc(path)


def _summarise_mrc(path: Path) -> ImageSummary:
    info = read_header_info(path)
    stats = _RunningStats()
    with open_stack(path) as stack:
        step = max(1, CHUNK_BYTES // max(1, info.nx * info.ny * 4))
        for start in range(0, len(stack), step):
            stats.add(stack[start : start + step])
    kind = "stack" if info.is_stack else ("volume" if info.is_volume else "image")
    mean, std = stats.mean_std()
    return ImageSummary(
        str(path), kind, info.shape, MODE_NAMES.get(info.mode, str(info.mode)), info.pixel_size,
        stats.minimum, stats.maximum, mean, std,
    )


def _summarise_tiff(path: Path) -> ImageSummary:
    stats = _RunningStats()
    with open_movie(path) as movie:
        for frame in movie:
            stats.add(frame)
        shape = (movie.n_frames, *movie.shape)
        dtype = movie.dtype
    mean, std = stats.mean_std()
    kind = "movie" if shape[0] > 1 else "image"
    return ImageSummary(str(path), kind, shape, f"TIFF {dtype}", 0.0, stats.minimum, stats.maximum, mean, std)
