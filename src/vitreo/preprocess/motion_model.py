"""Fitting RELION's local motion model (``ThirdOrderPolynomialModel``, evaluated by
:class:`vitreo.em.motion_polynomial.PolynomialMotion`) to patch shifts.

Patch shifts are only known up to a constant per patch (each patch is aligned on its own),
so the fit takes one free offset per patch and axis alongside the 36 coefficients: least
squares on observations and design both centred within each patch. Noisy patches would
otherwise add made-up motion, so the model is kept only when the F test of its p = 36
coefficients against offsets alone is significant at ``SIGNIFICANCE``, and its least-squares
coefficients are shrunk towards zero by the positive-part James–Stein factor
max(0, 1 − (p − 2)/(p·F)), which is never worse in expected squared error than least squares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vitreo.em.motion_polynomial import COEFFS_PER_AXIS, PolynomialMotion, spatial_terms

HUBER_K = 1.345  # Huber's constant (95 % efficiency for Gaussian noise), in robust standard deviations
HUBER_ITERATIONS = 8
SIGNIFICANCE = 0.01  # largest p-value of the F test for which a local model is kept


@dataclass(frozen=True)
class LocalFit:
    """A fitted model, the observations with their fitted per-patch offsets removed, and the fit's RMS residual."""

    model: PolynomialMotion
    observed: np.ndarray  # (n, 2) observations minus their patch offset: comparable with the model
    fitted: np.ndarray  # (n, 2) the model at the observations
    rms: np.ndarray  # (2,) RMS residual (x, y), pixels
    f_statistic: float  # of the coefficients against offsets alone
    p_value: float  # of that F test (small: the local motion is real)
    shrinkage: float  # factor applied to the least-squares coefficients (0: no local model)


def fit_local_motion(x: np.ndarray, y: np.ndarray, z: np.ndarray, shifts: np.ndarray, patch: np.ndarray,
                     size: tuple[int, int]) -> LocalFit:
    """Fit the 36 coefficients to local shifts (n, 2) observed at patch centres x, y (pixels), frames z,
    with one free offset per patch (``patch``: (n,) patch index of each observation).

    Observations are weighted by Huber's rule (iteratively reweighted least squares), so the
    few wild shifts that noise peaks give in weak patches do not drive the model."""
    model = PolynomialMotion(np.zeros(2 * COEFFS_PER_AXIS), size)
    terms = spatial_terms(*model.normalised(x, y))  # (6, n)
    z = np.asarray(z, np.float64)
    design = (terms[:, None, :] * np.stack([z, z**2, z**3])[None]).reshape(COEFFS_PER_AXIS, -1).T  # (n, 18)
    observed = np.asarray(shifts, np.float64)
    patch = np.asarray(patch)
    weights = np.ones(len(observed))
    for _ in range(HUBER_ITERATIONS):
        solution, centred_obs, residual = _weighted_fit(design, observed, patch, weights)
        size_of = np.sqrt(0.5 * np.sum(residual**2, axis=1))
        scale = 1.4826 * float(np.median(size_of))
        if scale <= 0:
            break
        weights = np.minimum(1.0, HUBER_K * scale / np.maximum(size_of, 1e-300))
    solution, centred_obs, residual = _weighted_fit(design, observed, patch, weights)
    statistic, p_value = _f_test(float(np.sum(weights[:, None] * centred_obs**2)),
                                 float(np.sum(weights[:, None] * residual**2)), len(observed), len(np.unique(patch)))
    dof_model = 2 * COEFFS_PER_AXIS
    shrinkage = max(0.0, 1.0 - (dof_model - 2) / (dof_model * statistic)) if p_value < SIGNIFICANCE else 0.0
    solution = solution * shrinkage
    model = PolynomialMotion(solution.T.reshape(-1), size)
    fitted = design @ solution
    offsets = _patch_means(observed - fitted, patch, weights)
    residual = observed - offsets - fitted
    return LocalFit(model, observed - offsets, fitted, np.sqrt(np.mean(residual**2, axis=0)), statistic, p_value,
                    shrinkage)


def _weighted_fit(design: np.ndarray, observed: np.ndarray, patch: np.ndarray, weights: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares with free patch offsets: (coefficients (18, 2), centred observations, residuals)."""
    centred_design = design - _patch_means(design, patch, weights)
    centred_obs = observed - _patch_means(observed, patch, weights)
    root = np.sqrt(weights)[:, None]
    solution, *_ = np.linalg.lstsq(centred_design * root, centred_obs * root, rcond=None)
    return solution, centred_obs, centred_obs - centred_design @ solution


def _f_test(rss_null: float, rss_model: float, n_obs: int, n_patches: int) -> tuple[float, float]:
    """F statistic and p-value of the 2×18 coefficients (both axes) from the residual sums of squares."""
    from scipy.stats import f as f_distribution

    dof_model = 2 * COEFFS_PER_AXIS
    dof_residual = 2 * (n_obs - n_patches - COEFFS_PER_AXIS)
    if dof_residual <= 0:
        return 0.0, 1.0
    if rss_model <= 0:
        return math.inf, 0.0
    statistic = ((rss_null - rss_model) / dof_model) / (rss_model / dof_residual)
    return statistic, float(f_distribution.sf(statistic, dof_model, dof_residual))


def _patch_means(values: np.ndarray, patch: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each row replaced by the weighted mean of the rows of its patch."""
    ids, inverse = np.unique(patch, return_inverse=True)
    w = weights.reshape((-1,) + (1,) * (values.ndim - 1))
    sums = np.zeros((len(ids),) + values.shape[1:])
    np.add.at(sums, inverse, values * w)
    totals = np.bincount(inverse, weights=weights, minlength=len(ids)).reshape((-1,) + (1,) * (values.ndim - 1))
    return (sums / np.maximum(totals, 1e-300))[inverse]


__all__ = ["LocalFit", "fit_local_motion", "SIGNIFICANCE"]
