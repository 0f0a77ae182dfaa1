"""Radiation damage follows Grant & Grigorieff (2015) and RELION's dose weighting."""

from __future__ import annotations

import math

import pytest
import torch

from vitreo.em.dose import critical_exposure, damage_filter, dose_weights, frame_damage, voltage_factor


def published_critical_exposure(resolution_A: float) -> float:
    """Grant & Grigorieff (2015) eq. 3 at 300 kV, typed in independently: 0.245·k^−1.665 + 2.81."""
    return 0.245 * (1.0 / resolution_A) ** -1.665 + 2.81


@pytest.mark.parametrize(("resolution_A", "expected"), [(4.0, 5.274), (10.0, 14.138), (20.0, 38.73)])
def test_critical_exposure_matches_published_curve(resolution_A: float, expected: float) -> None:
    value = float(critical_exposure(torch.tensor(1.0 / resolution_A, dtype=torch.float64)))
    assert value == pytest.approx(published_critical_exposure(resolution_A), rel=1e-12)
    assert value == pytest.approx(expected, rel=2e-4)  # the numbers worked out by hand


def test_critical_exposure_is_infinite_at_zero_frequency() -> None:
    assert math.isinf(float(critical_exposure(torch.tensor(0.0))))
    assert float(damage_filter(torch.tensor(0.0), 100.0)) == 1.0


def test_voltage_scaling_as_relion() -> None:
    assert voltage_factor(300.0) == pytest.approx(1.0, abs=1e-12)
    assert voltage_factor(200.0) == pytest.approx(0.8, abs=1e-12)
    assert voltage_factor(100.0) < voltage_factor(200.0) < voltage_factor(300.0)
    k = torch.tensor([0.05, 0.2], dtype=torch.float64)
    assert torch.allclose(critical_exposure(k, 200.0), 0.8 * critical_exposure(k, 300.0))


def test_damage_filter_is_one_over_e_at_twice_the_critical_exposure() -> None:
    k = torch.tensor([1 / 3.0, 1 / 8.0], dtype=torch.float64)
    ne = critical_exposure(k)
    for i in range(2):
        assert float(damage_filter(k[i], float(2 * ne[i]))) == pytest.approx(math.exp(-1.0), rel=1e-12)


def test_frame_damage_is_the_mean_over_the_frame() -> None:
    k = torch.tensor([0.02, 0.1, 0.25], dtype=torch.float64)
    exposures = torch.linspace(3.0, 5.0, 20001, dtype=torch.float64)
    numeric = torch.trapezoid(damage_filter(k[:, None], exposures[None, :]), exposures, dim=-1) / 2.0
    assert torch.allclose(frame_damage(k, 3.0, 5.0), numeric, rtol=1e-8)
    assert torch.allclose(frame_damage(k, 4.0, 4.0), damage_filter(k, 4.0))


def test_dose_weights_as_relion() -> None:
    k = torch.tensor([0.01, 0.1, 0.2], dtype=torch.float64)
    weights = dose_weights(k, n_frames=24, dose_per_frame=1.5, pre_exposure=2.0)
    assert weights.shape == (24, 3)
    assert torch.allclose(weights.square().sum(0), torch.ones(3, dtype=torch.float64))
    ne = critical_exposure(k)
    # frame f uses the exposure at its end: pre + dose·(f + 1); ratios between frames follow exp(−ΔN/2Ne)
    assert torch.allclose(weights[5] / weights[0], torch.exp(-5 * 1.5 / (2 * ne)))
    assert bool((weights[:, 2].diff() < 0).all())  # high frequencies: later frames count less
