"""Per-frame B-factors from relative Guinier plots, against half-maps with known B-factors."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import spearmanr

from vitreo.em.fourier import rfft_radius
from vitreo.em.fsc import fsc
from vitreo.polish.frame_bfactors import FSC_THRESHOLD, fit_frames, frame_weights

BOX, PIXEL = 48, 2.0


def _signal(seed: int) -> torch.Tensor:
    """A random map with a flat spectrum (its Guinier plot is level)."""
    return torch.randn((BOX,) * 3, generator=torch.Generator().manual_seed(seed))


def _blurred(volume: torch.Tensor, bfactor: float) -> torch.Tensor:
    s2 = (rfft_radius((BOX,) * 3) / PIXEL) ** 2
    return torch.fft.irfftn(torch.fft.rfftn(volume) * torch.exp(-bfactor * s2 / 4), s=(BOX,) * 3)


def _half_maps(bfactors: list[float], noise: float) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], tuple]:
    """Per frame: signal blurred by its B-factor plus independent noise in each half; and the sums."""
    signal = _signal(0)
    generator = torch.Generator().manual_seed(1)
    frames = []
    for b in bfactors:
        clean = _blurred(signal, b)
        frames.append(tuple(clean + noise * torch.randn(clean.shape, generator=generator) for _ in range(2)))
    return frames, (sum(f[0] for f in frames), sum(f[1] for f in frames))


def test_relative_bfactors_follow_the_damage_of_each_frame() -> None:
    true = [0.0, 20.0, 40.0, 60.0, 80.0]
    frames, average = _half_maps(true, noise=1.5)
    fits = fit_frames(frames, average, torch.ones((BOX,) * 3), PIXEL, lowres=20.0, highres=4.5)
    found = np.array([f.bfactor for f in fits])
    assert np.all(np.isfinite(found))
    # RELION's sign: more damage gives a lower (more negative) relative B-factor
    differences = found - found[0]
    assert np.allclose(differences, -np.array(true), atol=8.0)
    assert np.all(np.diff(found) < 0)


def test_frames_without_signal_of_their_own_still_get_their_bfactor() -> None:
    """Single-frame half-maps whose own FSC passes 0.143 in fewer than 3 shells of the fit range:
    RELION 2.1's estimator (each frame's own FSC) leaves every B-factor NaN."""
    true = np.array([50.0 * i for i in range(8)])
    frames, average = _half_maps(list(true), noise=3.0)
    resolution = BOX * PIXEL / np.arange(1, BOX // 2 + 1)
    in_range = (resolution < 20.0) & (resolution > 4.5)
    assert all(int((fsc(*frame)[1:].numpy()[in_range] > FSC_THRESHOLD).sum()) < 3 for frame in frames)
    fits = fit_frames(frames, average, torch.ones((BOX,) * 3), PIXEL, lowres=20.0, highres=4.5)
    found = np.array([f.bfactor for f in fits])
    assert spearmanr(np.arange(len(true)), found).correlation <= -0.8
    assert np.allclose(found - found.mean(), -(true - true.mean()), atol=120.0)  # B spans 350 Å²


def test_without_signal_in_the_average_the_bfactor_is_nan() -> None:
    frames, average = _half_maps([0.0, 50.0], noise=40.0)
    fit = fit_frames(frames, average, torch.ones((BOX,) * 3), PIXEL, 20.0, 4.5)[1]
    assert math.isnan(fit.bfactor) and len(fit.s2) < 3


def test_frame_weights_sum_to_one_and_favour_sharp_frames_at_high_resolution() -> None:
    weights = frame_weights(np.array([0.0, -50.0]), np.array([0.0, 0.0]), BOX, PIXEL)
    assert torch.allclose(weights.sum(0), torch.ones(weights.shape[1:]), atol=1e-6)
    assert torch.allclose(weights[:, 0, 0], torch.tensor([0.5, 0.5]))
    s2 = (BOX // 2 / (BOX * PIXEL)) ** 2
    assert torch.isclose(weights[0, 0, BOX // 2], torch.tensor(1 / (1 + math.exp(-50 / 4 * s2))), atol=1e-5)
