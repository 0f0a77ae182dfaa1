"""Projection images of a map at given orientations, offsets and CTFs (relion_project's forward model).

image = irfft2( CTF · shift(−origin) · P_A ), with P_A the central slice F3(Aᵀ k) of the map
(:class:`~vitreo.em.projector.Projector`) and the particle centre at (N//2 − origin), as RELION's
rlnOriginX/YAngst say. The CTF is RELION's, positive at low frequency (white particles).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vitreo.em.ctf import CtfParams, ctf_2d
from vitreo.em.fourier import phase_shift
from vitreo.em.projector import Projector

BATCH = 256  # projections computed at once


def render_projections(
    projector: Projector,
    rotations: torch.Tensor,
    pixel_size: float,
    *,
    origins: torch.Tensor | None = None,
    ctf: CtfParams | None = None,
    max_radius: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Real-space projections (n, N, N) of the projector's map at RELION matrices ``rotations`` (n, 3, 3).

    ``origins`` (n, 2) are (x, y) offsets in pixels; ``ctf`` holds one CTF per projection (pixel
    size in Å for it); frequencies beyond ``max_radius`` Fourier pixels are zero. ``progress``
    receives the number of projections done after each batch.
    """
    n, box = rotations.shape[0], projector.size
    out = torch.empty(n, box, box, dtype=projector.dtype, device=projector.device)
    for start in range(0, n, BATCH):
        part = slice(start, min(n, start + BATCH))
        slices = projector.project(rotations[part], max_radius=max_radius)
        if origins is not None:
            slices = phase_shift(slices, -origins[part].to(projector.device), (box, box))
        if ctf is not None:
            slices = slices * ctf_2d(ctf[part].to(projector.device, projector.dtype), box, pixel_size)
        out[part] = torch.fft.irfft2(slices, s=(box, box))
        if progress is not None:
            progress(part.stop)
    return out
