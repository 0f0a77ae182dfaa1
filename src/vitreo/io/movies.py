"""Dose-fractionated movies read lazily, frame by frame: MRC/MRCS and TIFF.

Frames come back as float32 (y, x) in RELION's orientation. RELION flips TIFF
images along y (the slow axis) when it reads them, whatever the TIFF
orientation tag says, to match MotionCor2 and IMOD; vitreo does the same, so a
TIFF movie, its MRC gain reference and the micrographs made from it line up
pixel for pixel with RELION's. MRC frames are read as stored.

TIFF: uncompressed, LZW or deflate (``imagecodecs`` for LZW), 8- or 16-bit
counts or float32, one frame per page. EER is not supported yet. The same
reader serves single-image files such as gain references and defect maps.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
import tifffile

from vitreo.io.errors import InputError
from vitreo.io.mrc import open_stack

# File extension -> reader; ".gain" is the TIFF gain reference EPU writes for Falcon cameras.
FORMATS = {".mrc": "mrc", ".mrcs": "mrc", ".tif": "tiff", ".tiff": "tiff", ".gain": "tiff"}


class Movie(ABC):
    """A movie open for reading: ``n_frames`` frames of ``shape`` (ny, nx) stored as ``dtype``."""

    def __init__(self, path: Path, n_frames: int, shape: tuple[int, int], dtype: np.dtype):
        self.path = path
        self.n_frames = n_frames
        self.shape = shape
        self.dtype = dtype

    @abstractmethod
    def _read(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop-1 as (k, y, x) in the stored element type, RELION orientation."""

    @abstractmethod
    def close(self) -> None:
        """Release the file."""

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based; negative counts from the end) as float32 (y, x)."""
        position = index + self.n_frames if index < 0 else index
        if not 0 <= position < self.n_frames:
            raise IndexError(f"{self.path}: frame {index} out of range for a movie of {self.n_frames} frames")
        return self._read(position, position + 1)[0].astype(np.float32)

    def frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames start..stop-1 (Python slice rules) as a float32 (k, y, x) batch."""
        start, stop = self._range(start, stop)
        return self._read(start, stop).astype(np.float32, copy=False)

    def sum(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Unaligned sum of frames start..stop-1 as float32 (y, x), accumulated in float64."""
        start, stop = self._range(start, stop)
        total = np.zeros(self.shape, dtype=np.float64)
        for index in range(start, stop):
            total += self._read(index, index + 1)[0]
        return total.astype(np.float32)

    def __len__(self) -> int:
        return self.n_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(self.n_frames):
            yield self.frame(index)

    def __enter__(self) -> Movie:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _range(self, start: int, stop: int | None) -> tuple[int, int]:
        begin, end, _ = slice(start, stop).indices(self.n_frames)
        return begin, max(begin, end)


class MrcMovie(Movie):
    """An MRC/MRCS movie: frames are the sections, memory-mapped."""

    def __init__(self, path: Path):
        self._stack = open_stack(path)
        super().__init__(path, len(self._stack), self._stack.shape[1:], self._stack.dtype)

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self._stack[start:stop]

    def close(self) -> None:
        self._stack.close()


class TiffMovie(Movie):
    """A multi-page TIFF movie: one frame per page, flipped along y on reading (RELION)."""

    def __init__(self, path: Path):
        try:
            self._tiff = tifffile.TiffFile(path)
        except (tifffile.TiffFileError, ValueError, OSError) as err:
            raise InputError(path, f"cannot read TIFF file ({err})") from None
        try:
            first = self._tiff.pages.first
            n_frames = len(self._tiff.pages)
            if len(first.shape) != 2:
                raise InputError(path, f"TIFF frames must be single-channel 2D images, page 1 has shape {first.shape}")
        except (tifffile.TiffFileError, ValueError, OSError) as err:
            self._tiff.close()
            raise InputError(path, f"cannot read TIFF file ({err})") from None
        except InputError:
            self._tiff.close()
            raise
        super().__init__(path, n_frames, (int(first.shape[0]), int(first.shape[1])), np.dtype(first.dtype))

    def _read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start,) + self.shape, dtype=self.dtype)
        for k, index in enumerate(range(start, stop)):
            out[k] = self._page(index)[::-1]
        return out

    def _page(self, index: int) -> np.ndarray:
        try:
            page = self._tiff.pages[index]
            data = page.asarray()  # type: ignore[union-attr]
        except (tifffile.TiffFileError, ValueError, OSError, EOFError, IndexError) as err:
            hint = " (install the 'imagecodecs' package)" if "imagecodecs" in str(err) else ""
            raise InputError(self.path, f"cannot decode frame {index + 1}: {err}{hint}") from None
        if data.shape != self.shape or data.dtype != self.dtype:
            raise InputError(self.path, f"frame {index + 1} is {data.shape} {data.dtype}, frame 1 is {self.shape} {self.dtype}")
        return data

    def close(self) -> None:
        self._tiff.close()


def movie_format(path: str | os.PathLike[str]) -> str:
    """'mrc' or 'tiff' from the file extension; InputError for EER and unknown types."""
    suffix = Path(path).suffix.lower()
    if suffix == ".eer":
        raise InputError(path, "EER movies are not supported yet")
    if suffix not in FORMATS:
        raise InputError(path, f"unknown movie format '{suffix}' (expected .mrc, .mrcs, .tif or .tiff)")
    return FORMATS[suffix]


def open_movie(path: str | os.PathLike[str]) -> Movie:
    """Open a movie for lazy reading (use as a context manager to close it)."""
    path = Path(path)
    kind = movie_format(path)
    if not path.is_file():
        raise InputError(path, "file not found" if not path.exists() else "not a file")
    return MrcMovie(path) if kind == "mrc" else TiffMovie(path)
