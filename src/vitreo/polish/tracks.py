"""Straight-line fits through the per-frame tracks of particles (RELION 2.1's particle polishing).

Each particle's track is fitted, in x and y separately, by weighted least squares of
(offset − prior) against the frame number, over the frames that contribute fully to the running
average; every particle on the same micrograph weighs in with a Gaussian of its distance to the
fitted one (stddev ``sigma_nb`` px: exp(−d²/2σ²), neighbours below 1e-5 of the particle's own
weight ignored, where RELION drops absolute weights gauss_const·exp(…) below 1e-5, i.e. every
neighbour once σ exceeds ~40,000 px; σ ≤ 0: only the particle itself). All particles are fitted at once: the weighted sums
are one matrix product with the (P, P) neighbour weights.
"""

from __future__ import annotations

import numpy as np

#: Weights below this are ignored, as RELION does.
MIN_WEIGHT = 1e-5


def neighbour_weights(positions: np.ndarray, micrographs: np.ndarray, sigma: float) -> np.ndarray:
    """(P, P) weights of particle j in the fit of particle i: Gaussian of their distance (px) on the
    same micrograph, zero across micrographs."""
    distance2 = ((positions[:, None, :] - positions[None, :, :]) ** 2).sum(-1)
    if sigma <= 0.01:
        weights = (distance2 < 0.01).astype(float)
    else:
        weights = np.exp(-distance2 / (2.0 * sigma * sigma))
    weights[micrographs[:, None] != micrographs[None, :]] = 0.0
    weights[weights < MIN_WEIGHT] = 0.0
    return weights


def fit_frames(n_groups: int, window: int) -> np.ndarray:
    """Frame indices used in the fit: those with a full running average (all when fewer than 2)."""
    half = max(window, 1) // 2
    frames = np.arange(half, n_groups - half)
    return frames if len(frames) >= 2 else np.arange(n_groups)


def fit_straight_tracks(offsets: np.ndarray, priors: np.ndarray, positions: np.ndarray, micrographs: np.ndarray,
                        sigma_nb: float, window: int) -> np.ndarray:
    """Fitted offsets (P, G, 2) px for measured offsets (P, G, 2), priors (P, 2) (the averaged
    particle's offset), positions (P, 2) on the micrograph (px) and micrograph ids (P,)."""
    n_groups = offsets.shape[1]
    weights = neighbour_weights(positions, micrographs, sigma_nb)
    frames = fit_frames(n_groups, window)
    x = frames + 1.0
    y = offsets[:, frames] - priors[:, None]  # (P, F', 2)
    total = weights.sum(1)[:, None]  # Σ_j w_ij (per frame)
    s = total * len(x)
    sx = total * x.sum()
    sxx = total * (x * x).sum()
    sy = weights @ y.sum(1)  # (P, 2)
    sxy = weights @ (x[None, :, None] * y).sum(1)
    denominator = s * sxx - sx * sx
    slope = (s * sxy - sx * sy) / denominator
    intercept = (sy - slope * sx) / s
    every = np.arange(1, n_groups + 1, dtype=float)
    return priors[:, None] + intercept[:, None] + slope[:, None] * every[None, :, None]


def track_rms(estimated: np.ndarray, truth: np.ndarray) -> float:
    """RMS distance (px) between two sets of tracks (P, G, 2), each taken relative to its own mean
    over frames (the averaged particle's position is not part of a track)."""
    a = estimated - estimated.mean(1, keepdims=True)
    b = truth - truth.mean(1, keepdims=True)
    return float(np.sqrt(((a - b) ** 2).sum(-1).mean()))


__all__ = ["neighbour_weights", "fit_frames", "fit_straight_tracks", "track_rms", "MIN_WEIGHT"]
