"""Mean and standard deviation of an image under a mask placed at every position (FFT convolution).

RELION's autopicker measures the background around each candidate in the corners of the
particle box outside the particle circle; these local statistics feed the picking FOM and the
"maximum stddev noise" / "minimum avg noise" rejection of carbon and contamination. The mask
is centred at box//2 and the result at pixel (i, j) describes the mask centred there
(periodic boundaries). Standard deviations are population ones.
"""

from __future__ import annotations

import torch

from vitreo.em.masks import centred_radius
from vitreo.picking.fft import irfft2, rfft2


def background_ring(box: int, radius: float, device: torch.device | str | None = None) -> torch.Tensor:
    """(box, box) float mask: 1 where the distance from box//2 is at least ``radius`` pixels."""
    return (centred_radius((box, box), device, torch.float64) >= radius).to(torch.float32)


def local_mean_std(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) maps (y, x) of ``image`` (y, x) under ``mask`` (b, b) centred at each pixel."""
    ny, nx = image.shape
    box = mask.shape[-1]
    canvas = torch.zeros((ny, nx), dtype=image.dtype, device=image.device)
    canvas[:box, :box] = mask.to(image)
    canvas = torch.roll(canvas, (-(box // 2), -(box // 2)), dims=(0, 1))  # mask centre at (0, 0)
    kernel = rfft2(canvas).conj()
    count = float(mask.sum())
    mean = irfft2(rfft2(image) * kernel, (ny, nx)) / count
    square = irfft2(rfft2(image * image) * kernel, (ny, nx)) / count
    return mean, (square - mean * mean).clamp_min(0.0).sqrt()


__all__ = ["background_ring", "local_mean_std"]
