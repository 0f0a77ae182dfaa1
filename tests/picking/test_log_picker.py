"""Laplacian-of-Gaussian picking finds blobs of the given size and RELION's diameters."""

from __future__ import annotations

import numpy as np
import torch

from vitreo.picking.log_picker import log_diameters, log_maps, log_peaks
from vitreo.picking.micrograph import prepare_micrograph


def test_diameters_are_relions() -> None:
    assert log_diameters(150, 180) == [30.0, 38.0, 50.0, 75.0, 150, 165.0, 180, 360.0, 540.0, 720.0, 900.0]


def test_dark_blobs_of_the_particle_size_are_found() -> None:
    rng = np.random.default_rng(2)
    size, pixel, diameter = 256, 4.0, 120.0
    image = torch.from_numpy(rng.normal(size=(size, size)).astype(np.float32))
    axis = torch.arange(size, dtype=torch.float32)
    centres = [(50, 60), (150, 70), (200, 190), (80, 200)]
    for x, y in centres:
        image -= 1.5 * torch.exp(-((axis[None, :] - x) ** 2 + (axis[:, None] - y) ** 2) / (2 * (diameter / pixel / 3) ** 2))
    prepared = prepare_micrograph(image, pixel, lowpass=20.0, shrink=0.0)
    maps = log_maps(prepared, log_diameters(100, 140), particles_white=False)
    peaks = log_peaks(maps, scale=prepared.grid.scale, shape=(size, size), min_diameter=100, max_diameter=140,
                      pixel_size=pixel, adjust=0.0, upper=999.0, skip_side=12.0)
    found = np.stack([peaks.x, peaks.y], 1)
    for centre in centres:
        assert np.min(np.hypot(*(found - centre).T)) < 4.0
    assert len(peaks) <= len(centres) + 2
