"""Averaged amplitude spectra: RELION's movie power spectrum and CTFFIND's tile average."""

from __future__ import annotations

import pytest
import torch

from vitreo.preprocess.alignment import taper_window
from vitreo.preprocess.spectra import TILE_TAPER, movie_spectrum, tile_spectrum


def test_movie_spectrum_crops_to_about_1_4_angstrom_as_relion() -> None:
    frames = torch.randn(6, 194, 186)  # the RELION tutorial's 3838×3710 movie scaled down 20×
    spectrum, pixel = movie_spectrum(torch.fft.rfft2(frames), (194, 186), 0.885 * 20, group=3, box=64)
    assert spectrum.shape == (64, 64) and pixel == pytest.approx(0.885 * 20)  # already coarser than 1.4 Å
    spectrum, pixel = movie_spectrum(torch.fft.rfft2(frames), (194, 186), 0.885, group=3, box=64)
    assert pixel == pytest.approx(186 * 0.885 / 118)  # RELION: ceil(186 · 0.885 / 1.4), made even


def test_tile_spectrum_of_white_noise_is_flat_and_centred() -> None:
    image = torch.randn(512, 512, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spectrum = tile_spectrum(image, 128)
    assert spectrum.shape == (128, 128)
    ring = spectrum[20:108, 20:108]
    assert float(ring.std() / ring.mean()) < 0.15
    window = taper_window((128, 128), dtype=torch.float64, fraction=TILE_TAPER)
    assert float(ring.mean()) == pytest.approx(float(window.square().sum().sqrt()), rel=0.05)  # √(σ² Σ w²)
