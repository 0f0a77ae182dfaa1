"""Solvent masks from a map, as relion_mask_create: low-pass, binarise, extend, soften.

The map is low-pass filtered (raised-cosine edge of 2 Fourier pixels, as RELION), binarised at
an initial threshold, the binary mask grown by ``extend_px`` pixels and given a raised-cosine
soft edge of ``soft_edge_px`` pixels (:func:`vitreo.em.masks.threshold_mask`). For helices the
mask is then limited to the central ``z_fraction`` of the box along z, with the same soft edge.
"""

from __future__ import annotations

import torch

from vitreo.em.filters import lowpass
from vitreo.em.masks import raised_cosine_edge, threshold_mask


def create_mask(
    volume: torch.Tensor,
    pixel_size: float,
    lowpass_resolution: float = 15.0,
    threshold: float = 0.02,
    extend_px: float = 3.0,
    soft_edge_px: float = 3.0,
    helix_z_fraction: float | None = None,
) -> torch.Tensor:
    """A mask in [0, 1] with ``volume``'s (z, y, x) shape; no low-pass when ``lowpass_resolution`` ≤ 0 (Å)."""
    filtered = lowpass(volume, lowpass_resolution, pixel_size) if lowpass_resolution > 0 else volume
    mask = threshold_mask(filtered, threshold, extend_px, soft_edge_px)
    if helix_z_fraction is not None:
        mask = mask * central_z_profile(volume.shape[0], helix_z_fraction, soft_edge_px, mask.dtype)[:, None, None]
    return mask


def central_z_profile(box: int, z_fraction: float, soft_edge_px: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """1 within z_fraction·box/2 of the box centre (N//2) along z, a raised-cosine edge beyond (RELION's helix mask)."""
    z = (torch.arange(box, dtype=dtype) - box // 2).abs()
    return raised_cosine_edge(z - 0.5 * z_fraction * box, soft_edge_px)


__all__ = ["create_mask", "central_z_profile"]
