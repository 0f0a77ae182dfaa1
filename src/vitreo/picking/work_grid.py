"""The grid on which auto-picking correlates: the micrograph shrunk by Fourier cropping.

As RELION's ``--shrink``: 0 shrinks to the low-pass resolution (work size 2·round(N·p/lowpass));
0 < v ≤ 1 to that fraction of the size; v > 1 is an even size in pixels. The size is then
raised to the next even size of the form 2^a·3^b (the fastest for pocketfft and cuFFT; never
above N) and the change noted, as RELION's getGoodFourierDims does. N is the (square) micrograph size in pixels, p its pixel
size in Å. A work pixel is N·p/W Å.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkGrid:
    """Micrograph size N and work size W (pixels), and the pixel sizes (Å) of both."""

    size: int
    work_size: int
    pixel_size: float
    note: str = ""

    @property
    def work_pixel_size(self) -> float:
        """Å per work pixel: N·p/W."""
        return self.size * self.pixel_size / self.work_size

    @property
    def scale(self) -> float:
        """Work pixels per micrograph pixel, W/N."""
        return self.work_size / self.size


def fast_even_size(n: int, limit: int) -> int:
    """The smallest even 2^a·3^b (a ≥ 1) that is at least ``n``, capped at the even part of ``limit``."""
    best, power_of_two = None, 2
    while best is None or power_of_two < best:
        size = power_of_two
        while size < n:
            size *= 3
        best = size if best is None else min(best, size)
        power_of_two *= 2
    return min(best, limit - limit % 2)


def work_grid(size: int, pixel_size: float, lowpass: float, shrink: float) -> WorkGrid:
    """The work grid for a square micrograph of ``size`` px (see the module docstring)."""
    if shrink < 0:
        raise ValueError(f"shrink must be 0, a fraction in (0, 1] or an even size > 1, not {shrink}")
    if shrink > 1:
        requested = int(round(shrink))
        if requested >= size:
            raise ValueError(f"shrink size {requested} must be smaller than the micrograph ({size} px)")
    elif shrink > 0:
        requested = int(round(shrink * size))
    else:
        requested = 2 * int(round(size * pixel_size / lowpass)) if lowpass > 0 else size
    requested = min(max(requested - requested % 2, 2), size - size % 2)
    work = fast_even_size(requested, size)
    note = f"work size {requested} px changed to {work} px for faster FFTs" if work != requested else ""
    return WorkGrid(size, work, pixel_size, note)


__all__ = ["WorkGrid", "fast_even_size", "work_grid"]
