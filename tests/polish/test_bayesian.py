"""Bayesian polishing: tracks fitted to likelihood maps under the smoothness prior."""

from __future__ import annotations

import numpy as np
import torch

from vitreo.polish.bayesian import WINDOW, MotionPriors, fit_tracks


def test_smooth_tracks_are_recovered_from_noisy_likelihood_maps() -> None:
    rng = np.random.default_rng(0)
    n, groups = 10, 8
    positions = rng.uniform(0, 400, size=(n, 2))
    time = np.arange(groups)
    common = np.stack([1.5 * (1 - np.exp(-time / 2.0)), -0.8 * (1 - np.exp(-time / 2.0))], axis=1)
    truth = common[None] + 0.05 * (positions[:, None] / 400.0) * time[None, :, None] - 1.0
    grid = torch.arange(-WINDOW, WINDOW + 1, dtype=torch.float64)
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    t = torch.from_numpy(truth)
    bowl = -((gx - t[..., 0, None, None]) ** 2 + (gy - t[..., 1, None, None]) ** 2)  # a peak of width ~1 px
    maps = (10.0 * torch.exp(bowl / 2.0) + torch.randn(bowl.shape, generator=torch.Generator().manual_seed(0)))
    fitted = fit_tracks(maps.float(), torch.zeros((n, 2)), positions, 1.0, 1.0,
                        MotionPriors(sigma_vel=1.0, sigma_div=5000.0, sigma_acc=2.0))
    error = (fitted.double() - t).norm(dim=-1)
    assert error.pow(2).mean().sqrt() < 0.25
    assert (t - t.mean(1, keepdim=True)).norm(dim=-1).pow(2).mean().sqrt() > 0.5  # the tracks do move
