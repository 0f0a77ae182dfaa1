"""FSC: identities, noise level, a known crossing, phase randomisation and the masked correction."""

from __future__ import annotations

import math

import pytest
import torch

from vitreo.em.filters import apply_bfactor, lowpass
from vitreo.em.fourier import rfft_radius, shell_index
from vitreo.em.fsc import (
    corrected_fsc,
    first_shell_below,
    fsc,
    phase_randomise,
    resolution_at,
    shell_resolutions,
    shell_sums,
)
from vitreo.em.masks import soft_spherical_mask


def noise(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fsc_with_itself_is_one():
    x = noise(32, 32, 32, seed=0)
    curve = fsc(x, x)
    assert curve.shape == (17,)
    torch.testing.assert_close(curve, torch.ones(17, dtype=torch.float64))
    torch.testing.assert_close(fsc(x, -x)[1:], -torch.ones(16, dtype=torch.float64))
    images = noise(3, 32, 32, seed=1)
    assert fsc(images, images, ndim=2).shape == (3, 17)


def test_fsc_of_independent_noise_is_within_three_sigma():
    a, b = noise(40, 40, 40, seed=2), noise(40, 40, 40, seed=3)
    curve = fsc(a, b)[1:]
    counts = torch.bincount(shell_index((40, 40, 40)).flatten(), minlength=21)[1:21].double()
    assert bool((curve.abs() < 3 / counts.sqrt()).all())


def test_fsc_crosses_0143_at_the_expected_shell():
    # a = S, b = H·S + noise with S white (unit power per voxel), H = exp(−B s²/4), noise power σ² per voxel:
    # FSC(s) = H / √(H² + σ²), which falls to 0.143 where H = 0.143·σ/√(1 − 0.143²)
    n, pixel, bfactor, sigma = 48, 2.0, 400.0, 0.2
    signal = noise(n, n, n, seed=4)
    b = apply_bfactor(signal, bfactor, pixel) + sigma * noise(n, n, n, seed=5)
    curve = fsc(signal, b)
    h = 0.143 * sigma / math.sqrt(1 - 0.143**2)
    s_expected = math.sqrt(-4 * math.log(h) / bfactor)  # 1/Å
    expected = 1 / s_expected
    measured = resolution_at(curve, 0.143, pixel, n)
    assert measured == pytest.approx(expected, rel=0.05)
    shell = first_shell_below(curve, 0.143)
    assert abs(shell - s_expected * n * pixel) < 1.5


def test_shell_resolutions_and_read_out():
    res = shell_resolutions(64, 1.5)
    assert math.isinf(float(res[0])) and float(res[1]) == 96.0 and float(res[32]) == 3.0
    curve = torch.tensor([1.0, 0.9, 0.5, 0.2, 0.1, 0.0])
    # crossing 0.143 between shells 3 (0.2) and 4 (0.1): shell 3.57
    assert resolution_at(curve, 0.143, 1.0, 10) == pytest.approx(10 / (3 + 0.057 / 0.1))
    assert resolution_at(curve, 0.143, 1.0, 10, interpolate=False) == pytest.approx(10 / 3)
    assert resolution_at(torch.ones(6), 0.143, 1.0, 10) == pytest.approx(2.0)
    assert first_shell_below(curve, 0.8) == 2


def test_shell_sums():
    shells = torch.tensor([[0, 1], [1, 5]])
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    torch.testing.assert_close(shell_sums(values, shells, 3), torch.tensor([[1.0, 5.0, 0.0]]))


def test_phase_randomisation_keeps_amplitudes_and_kills_correlation_beyond_the_cut():
    x = noise(32, 32, 32, seed=6)
    y = phase_randomise(x, 8, torch.Generator().manual_seed(7))
    assert y.dtype == x.dtype and y.shape == x.shape
    fx, fy = torch.fft.rfftn(x), torch.fft.rfftn(y)
    torch.testing.assert_close(fy.abs(), fx.abs())  # amplitudes (so the power spectrum) kept voxel by voxel
    low = rfft_radius((32, 32, 32), dtype=torch.float64) * 32 < 8
    torch.testing.assert_close(fy[low], fx[low])
    curve = fsc(x, y)
    torch.testing.assert_close(curve[:8], torch.ones(8, dtype=torch.float64))
    counts = torch.bincount(shell_index((32, 32, 32)).flatten(), minlength=17)[9:17].double()
    assert bool((curve[9:].abs() < 3 / counts.sqrt()).all())
    assert float(torch.fft.irfftn(torch.fft.rfftn(y), s=y.shape).sub(y).abs().max()) < 1e-12  # real, Friedel-symmetric


def test_corrected_fsc_formula():
    masked = torch.tensor([1.0, 0.95, 0.9, 0.7, 0.5, 0.4, 0.3])
    random = torch.tensor([1.0, 0.95, 0.9, 0.5, 0.5, 0.2, 0.0])
    out = corrected_fsc(masked, random, randomize_at=2)
    torch.testing.assert_close(out[:4], masked[:4])  # shells < randomize_at + 2 keep the masked FSC
    torch.testing.assert_close(out[4:], torch.tensor([0.0, 0.25, 0.3]))


def test_masked_fsc_correction_removes_mask_correlation():
    # half maps share a signal only up to shell 6; a sharp mask spreads its correlation to all shells,
    # and the phase-randomisation correction takes that spurious correlation out again
    n = 32
    signal = 8 * lowpass(noise(n, n, n, seed=1), n / 5.0, 1.0, edge_px=1.0)
    a, b = signal + 0.3 * noise(n, n, n, seed=2), signal + 0.3 * noise(n, n, n, seed=3)
    mask = soft_spherical_mask((n, n, n), 8.0, 0.0, dtype=torch.float64)
    unmasked, masked = fsc(a, b), fsc(a * mask, b * mask)
    randomize_at = first_shell_below(unmasked, 0.8)
    assert randomize_at == 6
    gen = torch.Generator().manual_seed(4)
    random = fsc(phase_randomise(a, randomize_at, gen) * mask, phase_randomise(b, randomize_at, gen) * mask)
    true = corrected_fsc(masked, random, randomize_at)
    high = slice(randomize_at + 4, None)
    assert float(masked[high].mean()) > 0.4  # spurious
    assert float(true[high].abs().mean()) < 0.15  # removed
    assert float(unmasked[high].abs().mean()) < 0.05
