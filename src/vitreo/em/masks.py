"""Real-space masks with raised-cosine edges, in RELION's conventions.

The box centre is voxel N//2 along each axis (RELION's Xmipp origin). Radii and widths are in
pixels. A soft edge of width w falls from 1 to 0 as 0.5 + 0.5·cos(π·d/w) over a distance d in
[0, w] from the hard boundary.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from scipy import ndimage

from vitreo.em.backend import randn_like

Background = Literal["zero", "mean", "noise"]


def raised_cosine_edge(distance: torch.Tensor, width: float) -> torch.Tensor:
    """1 for distance ≤ 0, 0.5 + 0.5·cos(π·distance/width) up to ``width``, 0 beyond (a hard step if width ≤ 0)."""
    if width <= 0:
        return (distance <= 0).to(distance.dtype)
    return 0.5 + 0.5 * torch.cos(math.pi * (distance / width).clamp(0.0, 1.0))


def centred_radius(
    shape: tuple[int, ...], device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Distance (pixels) of each pixel/voxel of a ``shape`` box from its centre (N//2 on each axis)."""
    axes = [torch.arange(n, device=device, dtype=dtype) - n // 2 for n in shape]
    grids = torch.meshgrid(*axes, indexing="ij")
    return torch.stack(grids).square().sum(0).sqrt()


def soft_spherical_mask(
    shape: tuple[int, ...],
    radius: float,
    edge_width: float = 3.0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """A sphere (3D ``shape``) or circle (2D): 1 for r ≤ radius, raised-cosine to 0 at radius + edge_width.

    As RELION's softMaskOutsideMap (its default radius is N/2, width 3 pixels).
    """
    return raised_cosine_edge(centred_radius(shape, device, dtype) - radius, edge_width)


def threshold_mask(
    density: torch.Tensor, threshold: float, extend_px: float = 0.0, soft_edge_px: float = 0.0
) -> torch.Tensor:
    """A mask from a map, as relion_mask_create (``--ini_threshold --extend_inimask --width_soft_edge``).

    Binary where density ≥ threshold; grown by ``extend_px`` (voxels closer than that to the
    binary mask join it; a negative value shrinks it: voxels closer than |extend_px| to the
    outside leave it); then a raised-cosine edge of ``soft_edge_px`` measured by the exact
    Euclidean distance to the grown mask. ``density`` is one 2D or 3D map; the result has its
    shape, device and dtype. The distance transform runs on the CPU (scipy).
    """
    binary = (density >= threshold).cpu().numpy()
    if extend_px > 0 and binary.any():
        binary = ndimage.distance_transform_edt(~binary) < extend_px
    elif extend_px < 0 and not binary.all():
        binary &= ndimage.distance_transform_edt(binary) >= -extend_px
    if soft_edge_px > 0 and binary.any():
        distance = torch.from_numpy(ndimage.distance_transform_edt(~binary))
        mask = raised_cosine_edge(distance, soft_edge_px)
    else:
        mask = torch.from_numpy(binary.astype(np.float64))
    return mask.to(device=density.device, dtype=density.dtype)


def apply_mask(
    x: torch.Tensor,
    mask: torch.Tensor,
    background: Background = "zero",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """x·mask + (1 − mask)·fill for x (..., *mask.shape); the fill is computed per leading index.

    ``background``: "zero" (fill 0); "mean" (the (1 − mask)-weighted mean of x, as RELION's
    softMaskOutsideMap); "noise" (white Gaussian noise with the (1 − mask)-weighted mean and
    standard deviation of x, drawn from ``generator``).
    """
    if background == "zero":
        return x * mask
    dims = tuple(range(x.dim() - mask.dim(), x.dim()))
    outside = 1.0 - mask
    total = outside.sum().clamp_min(torch.finfo(x.dtype).tiny)
    mean = (x * outside).sum(dims, keepdim=True) / total
    if background == "mean":
        fill = mean
    elif background == "noise":
        std = torch.sqrt(((x - mean) ** 2 * outside).sum(dims, keepdim=True) / total)
        fill = mean + std * randn_like(x, generator)
    else:
        raise ValueError(f"background must be 'zero', 'mean' or 'noise', not {background!r}")
    return x * mask + outside * fill
