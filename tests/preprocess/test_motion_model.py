"""RELION's third-order polynomial motion model: the simulator's conventions, fitting and shrinkage."""

from __future__ import annotations

import numpy as np
import torch

from vitreo.em.motion_polynomial import PolynomialMotion
from vitreo.preprocess.motion_model import fit_local_motion
from vitreo.simulate.motion import MotionModel, random_motion

SIZE = (512, 384)


def _truth(seed: int = 0) -> MotionModel:
    return random_motion(np.random.default_rng(seed), 16, SIZE, drift_px=3.0, local_px=2.0)


def test_local_shifts_match_the_simulators_model() -> None:
    truth = _truth()
    model = PolynomialMotion(truth.local_coefficients, SIZE)
    x, y = np.array([0.0, 100.0, 511.0]), np.array([0.0, 300.0, 383.0])
    assert np.allclose(model.shifts(x, y, np.arange(16)), truth.local_shifts(x, y))


def test_separable_field_equals_pointwise_evaluation_on_a_binned_grid() -> None:
    model = PolynomialMotion(_truth(1).local_coefficients, SIZE)
    a, b, c = model.separable(np.array([5, 15]), height=192, scale=2.0, dtype=torch.float64)
    columns = torch.arange(256, dtype=torch.float64) * 2.0 / SIZE[0] - 0.5
    field = a + columns * (b + c * columns)  # (F, 2, 192, 256)
    rows, cols = np.array([0, 100, 191]), np.array([0, 37, 255])
    expected = model.shifts(cols * 2.0, rows * 2.0, np.array([5, 15])) / 2.0  # (F, n, 2)
    got = field[:, :, rows, cols].permute(0, 2, 1).numpy()
    assert np.allclose(got, expected)


def _observations(truth: MotionModel, noise: float, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    cx, cy = np.meshgrid(np.linspace(50, 460, 5), np.linspace(40, 340, 5))
    cx, cy = cx.ravel(), cy.ravel()
    z = np.arange(16.0)
    local = truth.local_shifts(cx, cy)  # (F, P, 2)
    offsets = rng.normal(0, 1.0, (len(cx), 2))  # each patch is only known up to a constant
    shifts = (local + offsets[None]).transpose(1, 0, 2).reshape(-1, 2) + rng.normal(0, noise, (len(cx) * 16, 2))
    return np.repeat(cx, 16), np.repeat(cy, 16), np.tile(z, len(cx)), shifts, np.repeat(np.arange(len(cx)), 16)


def test_fit_recovers_the_model_despite_unknown_patch_offsets() -> None:
    truth = _truth(2)
    x, y, z, shifts, patch = _observations(truth, noise=0.05)
    fit = fit_local_motion(x, y, z, shifts, patch, SIZE)
    gx, gy = np.meshgrid(np.linspace(0, 511, 7), np.linspace(0, 383, 7))
    error = fit.model.shifts(gx.ravel(), gy.ravel(), np.arange(16)) - truth.local_shifts(gx.ravel(), gy.ravel())
    assert np.sqrt(np.mean(error**2)) < 0.05
    assert fit.p_value < 1e-6 and fit.shrinkage > 0.95


def test_noise_alone_gives_no_local_model() -> None:
    truth = MotionModel(np.zeros((16, 2)), np.zeros(36), SIZE)
    x, y, z, shifts, patch = _observations(truth, noise=2.0, seed=3)
    fit = fit_local_motion(x, y, z, shifts, patch, SIZE)
    assert fit.shrinkage == 0.0 and np.all(fit.model.coefficients == 0)


def test_wild_patch_shifts_do_not_drive_the_fit() -> None:
    truth = _truth(4)
    x, y, z, shifts, patch = _observations(truth, noise=0.05, seed=5)
    shifts[::17] += 8.0  # a noise peak won in every 17th observation
    fit = fit_local_motion(x, y, z, shifts, patch, SIZE)
    gx, gy = np.meshgrid(np.linspace(0, 511, 7), np.linspace(0, 383, 7))
    error = fit.model.shifts(gx.ravel(), gy.ravel(), np.arange(16)) - truth.local_shifts(gx.ravel(), gy.ravel())
    assert np.sqrt(np.mean(error**2)) < 0.2
