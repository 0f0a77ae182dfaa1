"""Fourier filters: raised-cosine low/high pass, B-factors and whitening."""

from __future__ import annotations

import math

import pytest
import torch

from vitreo.em.filters import (
    apply_bfactor,
    bfactor_response,
    highpass,
    lowpass,
    lowpass_response,
    spatial_dims,
    whiten,
)
from vitreo.em.fourier import rfft_radius, shell_index


def plane_wave(n: int, k: int) -> torch.Tensor:
    """cos(2π k x / N) along x on an N×N image: all power in Fourier pixel k."""
    x = torch.arange(n, dtype=torch.float64)
    return torch.cos(2 * math.pi * k * x / n).expand(n, n).clone()


def test_lowpass_response_profile():
    # box 64, 2 Å/px, cutoff 8 Å → Fourier pixel 16; edge 4 px from 14 to 18
    response = lowpass_response((64, 64), 8.0, 2.0, edge_px=4.0, dtype=torch.float64)
    radius = rfft_radius((64, 64), dtype=torch.float64) * 64
    assert bool((response[radius <= 14] == 1).all())
    assert bool((response[radius >= 18] == 0).all())
    assert float(response[16, 0]) == pytest.approx(0.5)  # (ky=16, kx=0): exactly at the cutoff
    assert float(response[0, 15]) == pytest.approx(0.5 + 0.5 * math.cos(math.pi / 4))
    assert bool((response[0, :].diff() <= 0).all())


def test_lowpass_passes_low_and_stops_high_frequencies():
    images = torch.stack([plane_wave(64, 5), plane_wave(64, 16), plane_wave(64, 30)])
    out = lowpass(images, 8.0, 2.0, edge_px=4.0, ndim=2)
    torch.testing.assert_close(out[0], images[0])
    torch.testing.assert_close(out[1], 0.5 * images[1])
    assert out[2].abs().max() < 1e-12


def test_highpass_is_the_complement():
    images = torch.stack([plane_wave(64, 5), plane_wave(64, 16), plane_wave(64, 30)])
    out = highpass(images, 8.0, 2.0, edge_px=4.0, ndim=2)
    assert out[0].abs().max() < 1e-12
    torch.testing.assert_close(out[1], 0.5 * images[1])
    torch.testing.assert_close(out[2], images[2])
    x = torch.randn(2, 16, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(lowpass(x, 6.0, 1.0, ndim=3) + highpass(x, 6.0, 1.0, ndim=3), x)


def test_lowpass_3d_keeps_shape_and_dtype():
    x = torch.randn(16, 16, 16)
    out = lowpass(x, 5.0, 1.0)
    assert out.shape == x.shape and out.dtype == torch.float32


def test_bfactor():
    # amplitude at s (1/Å) is multiplied by exp(−B s²/4); B < 0 sharpens
    image = plane_wave(64, 8)
    s = 8 / (64 * 1.5)
    torch.testing.assert_close(apply_bfactor(image, 100.0, 1.5), image * math.exp(-100.0 * s * s / 4))
    torch.testing.assert_close(apply_bfactor(apply_bfactor(image, -60.0, 1.5), 60.0, 1.5), image)
    per_image = bfactor_response((8, 8), torch.tensor([0.0, 50.0]), 1.0)
    assert per_image.shape == (2, 8, 5)
    assert bool((per_image[0] == 1).all())


def test_whiten_flattens_a_radial_spectrum():
    torch.manual_seed(0)
    noise = torch.randn(64, 64, dtype=torch.float64)
    coloured = apply_bfactor(noise, 200.0, 1.0)
    power = torch.exp(-200.0 * (torch.arange(33, dtype=torch.float64) / 64) ** 2 / 2)  # |exp(−B s²/4)|² per shell
    white = whiten(coloured, power)
    shells = shell_index((64, 64))
    spectrum = torch.fft.rfftn(white).abs().square()
    inner = spectrum[(shells >= 2) & (shells <= 10)].mean()
    outer = spectrum[(shells >= 20) & (shells <= 30)].mean()
    assert float(inner / outer) == pytest.approx(1.0, rel=0.15)


def test_spatial_dims():
    assert spatial_dims(torch.zeros(4, 8, 8), 2) == (1, 2)
    assert spatial_dims(torch.zeros(8, 8, 8)) == (0, 1, 2)
    with pytest.raises(ValueError):
        spatial_dims(torch.zeros(8, 8), 3)
