"""Straight-line track fits with neighbour weights, against known linear tracks."""

from __future__ import annotations

import numpy as np

from vitreo.polish.tracks import fit_frames, fit_straight_tracks, neighbour_weights, track_rms


def _linear_tracks(rng: np.random.Generator, n: int = 30, groups: int = 12) -> tuple[np.ndarray, ...]:
    """Two micrographs with opposite drifts (0.3 px/frame), particles moving slightly differently."""
    micrographs = np.arange(n) % 2
    positions = rng.uniform(0, 500, size=(n, 2))
    drift = np.where(micrographs[:, None] == 0, 0.3, -0.3) * np.array([1.0, 0.5])
    slopes = drift + 0.02 * (positions - 250) / 250
    priors = rng.normal(size=(n, 2))
    frames = np.arange(1, groups + 1)
    truth = priors[:, None] + slopes[:, None] * (frames[None, :, None] - frames.mean())
    return truth, priors, positions, micrographs


def test_neighbour_fits_recover_linear_tracks_from_noisy_measurements() -> None:
    rng = np.random.default_rng(1)
    truth, priors, positions, micrographs = _linear_tracks(rng)
    measured = truth + rng.normal(scale=0.7, size=truth.shape)
    alone = fit_straight_tracks(measured, priors, positions, micrographs, 0.0, 1)
    pooled = fit_straight_tracks(measured, priors, positions, micrographs, 300.0, 1)
    assert track_rms(measured, truth) > 0.8
    assert track_rms(alone, truth) < 0.5
    assert track_rms(pooled, truth) < 0.15  # neighbours on the same micrograph share the drift
    assert track_rms(pooled, truth) < 0.5 * track_rms(alone, truth)


def test_other_micrographs_do_not_weigh_in() -> None:
    rng = np.random.default_rng(2)
    truth, priors, positions, micrographs = _linear_tracks(rng)
    weights = neighbour_weights(positions, micrographs, 1e6)
    assert np.all(weights[micrographs[:, None] != micrographs[None, :]] == 0)
    assert np.all(weights[micrographs[:, None] == micrographs[None, :]] > 0)
    fitted = fit_straight_tracks(truth, priors, positions, micrographs, 1e6, 1)
    # exact data and one shared line per micrograph: only the per-particle spread of slopes remains
    assert track_rms(fitted, truth) < 0.1


def test_fit_frames_leave_out_incomplete_running_averages() -> None:
    assert fit_frames(12, 5).tolist() == list(range(2, 10))
    assert fit_frames(3, 5).tolist() == [0, 1, 2]


def test_track_rms_ignores_the_mean_position() -> None:
    tracks = np.random.default_rng(3).normal(size=(4, 6, 2))
    assert track_rms(tracks + 5.0, tracks) < 1e-12
