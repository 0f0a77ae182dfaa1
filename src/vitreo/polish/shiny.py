"""Shiny particles: the weighted sums of a particle's aligned movie frames.

Each frame group's image is shifted by (its offset − the averaged particle's offset), which puts
the particle where the averaged particle has it, then the groups are summed with per-frequency
weights (B-factor or dose weights) and the sum is normalised as Extract does.
"""

from __future__ import annotations

import torch

from vitreo.em.fourier import phase_shift
from vitreo.em.normalise import normalise


def shiny_images(frames: torch.Tensor, offsets: torch.Tensor, priors: torch.Tensor,
                 weights: torch.Tensor | None, bg_radius: int, white_dust: float = -1.0,
                 black_dust: float = -1.0) -> torch.Tensor:
    """Polished images (P, N, N) from frames (P, G, N, N), per-frame offsets (P, G, 2) px, averaged
    offsets (P, 2) px and weights (G, N, N//2+1) (None: a plain sum)."""
    box = frames.shape[-1]
    spectra = phase_shift(torch.fft.rfft2(frames.to(torch.float32)), (offsets - priors[:, None]).to(torch.float32),
                          (box, box))
    total = spectra.sum(1) if weights is None else (spectra * weights[None]).sum(1)
    images = torch.fft.irfft2(total, s=(box, box))
    return normalise(images, bg_radius, white_dust=white_dust, black_dust=black_dust)


__all__ = ["shiny_images"]
