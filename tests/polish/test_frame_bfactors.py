"""Per-frame B-factors from relative Guinier plots, against half-maps with known B-factors."""

from __future__ import annotations

import math

import numpy as np
import torch

from vitreo.em.fourier import rfft_radius
from vitreo.polish.frame_bfactors import frame_weights, masked_fsc, relative_guinier

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
    mask = torch.ones((BOX,) * 3)
    fsc_average = masked_fsc(*average, mask)
    fits = [relative_guinier(masked_fsc(*f, mask), fsc_average, BOX, PIXEL, lowres=20.0, highres=4.5) for f in frames]
    found = np.array([f.bfactor for f in fits])
    assert np.all(np.isfinite(found))
    # RELION's sign: more damage gives a lower (more negative) relative B-factor
    differences = found - found[0]
    assert np.allclose(differences, -np.array(true), atol=8.0)
    assert np.all(np.diff(found) < 0)


def test_too_few_shells_give_nan() -> None:
    frames, average = _half_maps([0.0, 50.0], noise=40.0)
    mask = torch.ones((BOX,) * 3)
    fit = relative_guinier(masked_fsc(*frames[1], mask), masked_fsc(*average, mask), BOX, PIXEL, 20.0, 4.5)
    assert math.isnan(fit.bfactor) and len(fit.s2) < 3


def test_frame_weights_sum_to_one_and_favour_sharp_frames_at_high_resolution() -> None:
    weights = frame_weights(np.array([0.0, -50.0]), np.array([0.0, 0.0]), BOX, PIXEL)
    assert torch.allclose(weights.sum(0), torch.ones(weights.shape[1:]), atol=1e-6)
    assert torch.allclose(weights[:, 0, 0], torch.tensor([0.5, 0.5]))
    s2 = (BOX // 2 / (BOX * PIXEL)) ** 2
    assert torch.isclose(weights[0, 0, BOX // 2], torch.tensor(1 / (1 + math.exp(-50 / 4 * s2))), atol=1e-5)
