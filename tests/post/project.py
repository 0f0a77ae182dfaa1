"""A tiny project with Refine3D-style half-maps of a known map for the MaskCreate/PostProcess/LocalRes job tests."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.post.synthetic import gaussian_snr, noisy_halves, pseudo_atomic_map
from vitreo.em.masks import soft_spherical_mask
from vitreo.io.mrc import write_mrc

BOX, PIXEL = 48, 2.0
HALF1 = "Refine3D/job001/run_half1_class001_unfil.mrc"
HALF2 = "Refine3D/job001/run_half2_class001_unfil.mrc"
MAP = "Refine3D/job001/run_class001.mrc"
MASK = "masks/soft.mrc"


def write_half_maps(root: Path, resolution: float = 5.0, bfactor: float = 200.0) -> torch.Tensor:
    """Write the half-maps, their average and a soft spherical mask under ``root``; returns the true map."""
    truth = pseudo_atomic_map(BOX, PIXEL, 14, bfactor)
    half1, half2 = noisy_halves(truth, PIXEL, gaussian_snr(50, resolution))
    write_mrc(root / HALF1, half1.numpy(), PIXEL)
    write_mrc(root / HALF2, half2.numpy(), PIXEL)
    write_mrc(root / MAP, (0.5 * (half1 + half2)).numpy(), PIXEL)
    write_mrc(root / MASK, soft_spherical_mask((BOX,) * 3, 17, 5).numpy(), PIXEL)
    return truth
