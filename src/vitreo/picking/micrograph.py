"""A micrograph made ready for picking: normalised, square, high-passed, and its spectrum on the work grid.

As RELION's autopicker, pixels more than ``outlier_zscore`` standard deviations from the centre
are replaced by it and the micrograph is normalised to centre 0 and standard deviation 1; unlike
RELION the centre and spread are robust (median and 1.4826 × median absolute deviation), and the
micrograph is finally scaled so that the median of the local background standard deviation is 1:
"maximum stddev noise" and "minimum avg noise" then mean the same on every micrograph (relative to
its typical background), whatever fraction of it carbon, thickness gradients or opaque
contamination cover. A rectangular micrograph is placed at the corner (0, 0) of a square of its larger side filled
with Gaussian noise N(0, 1) (so coordinates stay those of the micrograph). A high-pass filter
(Å; ≤ 0 for none) follows. Local background statistics are measured at full resolution and
sampled on the work grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vitreo.em.filters import highpass
from vitreo.em.fourier import fourier_resize
from vitreo.picking.fft import rfft2
from vitreo.picking.local_stats import background_ring, local_mean_std
from vitreo.picking.work_grid import WorkGrid, work_grid

OUTLIER_ZSCORE = 8.0
MEDIAN_SAMPLE = 1 << 20  # pixels used for the robust statistics


@dataclass(frozen=True)
class PreparedMicrograph:
    """``spectrum``: rfft of the normalised micrograph shrunk to the work grid (values of the
    shrunk image, i.e. Fourier-cropped and scaled by (W/N)²), (W, W//2+1); ``mean``/``std``:
    local background statistics (W, W) at full resolution sampled at work pixels (0 and 1
    when no background ring was given), over ``ring_pixels`` pixels; ``shape``: the original
    (ny, nx) in pixels."""

    grid: WorkGrid
    spectrum: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    shape: tuple[int, int]
    ring_pixels: float = float("inf")


def robust_centre_spread(values: torch.Tensor) -> tuple[float, float]:
    """(median, 1.4826 × median absolute deviation): mean and σ for Gaussian data, robust to outliers."""
    sample = values.reshape(-1)
    if sample.numel() > MEDIAN_SAMPLE:  # a strided subsample gives the same statistics much faster
        sample = sample[:: sample.numel() // MEDIAN_SAMPLE]
    centre = sample.median()
    spread = 1.4826 * (sample - centre).abs().median()
    if not float(spread) > 0:
        spread = sample.std(correction=0)
    return float(centre), max(float(spread), 1e-20)


def normalise_micrograph(image: torch.Tensor, outlier_zscore: float = OUTLIER_ZSCORE) -> torch.Tensor:
    """Robust normalisation: outliers (|z| > outlier_zscore) set to the median, then median 0 and σ 1."""
    image = image.to(torch.float32)
    centre, spread = robust_centre_spread(image)
    image = (image - centre) / spread
    return torch.where(image.abs() > outlier_zscore, 0.0, image)


def square_canvas(image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``image`` (y, x) at the corner of a square of its larger side, the rest Gaussian noise N(0, 1)."""
    ny, nx = image.shape
    if ny == nx:
        return image
    size = max(ny, nx)
    canvas = torch.randn((size, size), generator=generator, dtype=image.dtype).to(image.device)
    canvas[:ny, :nx] = image
    return canvas


def sample_on_work_grid(values: torch.Tensor, grid: WorkGrid) -> torch.Tensor:
    """A full-resolution map (N, N) read at the micrograph pixel nearest each work pixel: (W, W)."""
    index = torch.round(torch.arange(grid.work_size, device=values.device) / grid.scale).long()
    index = index.clamp_max(grid.size - 1)
    return values[index[:, None], index[None, :]]


def prepare_micrograph(
    image: torch.Tensor,
    pixel_size: float,
    *,
    lowpass: float,
    shrink: float,
    background_box: int = 0,
    particle_radius: float = 0.0,
    highpass_resolution: float = -1.0,
    generator: torch.Generator | None = None,
) -> PreparedMicrograph:
    """Normalise, square, high-pass and shrink a micrograph (y, x) for picking.

    ``background_box``/``particle_radius`` (micrograph pixels) define the ring of local statistics
    (none when ``background_box`` is 0).
    """
    shape = (int(image.shape[0]), int(image.shape[1]))
    square = square_canvas(normalise_micrograph(image), generator)
    if highpass_resolution > 0:
        square = highpass(square, highpass_resolution, pixel_size, ndim=2)
    grid = work_grid(square.shape[-1], pixel_size, lowpass, shrink)
    ring_pixels = float("inf")
    if background_box > 0:
        ring = background_ring(background_box, particle_radius, square.device)
        mean, std = local_mean_std(square, ring)
        ring_pixels = float(ring.sum())
    else:
        mean, std = torch.zeros_like(square), torch.ones_like(square)
    typical = max(float(std.median()), 1e-20)
    full = (grid.size, grid.size)
    spectrum = fourier_resize(rfft2(square), full, (grid.work_size, grid.work_size)) * (grid.scale**2 / typical)
    return PreparedMicrograph(grid, spectrum, sample_on_work_grid(mean / typical, grid),
                              sample_on_work_grid(std / typical, grid), shape, ring_pixels)


__all__ = ["OUTLIER_ZSCORE", "MEDIAN_SAMPLE", "PreparedMicrograph", "robust_centre_spread", "normalise_micrograph", "square_canvas", "sample_on_work_grid",
           "prepare_micrograph"]
