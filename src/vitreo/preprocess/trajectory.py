"""Smoothing of a measured global trajectory (frame shifts), as Unblur smooths its shifts.

Beam-induced drift is smooth from frame to frame, while each frame's measured shift carries
its own noise (and the first frame's noise would shift the whole trajectory when frame 1 is
made the origin). The trajectory is smoothed per axis by a Whittaker–Henderson smoother,
argmin ||s − y||² + λ ||Δ² s||² (Δ² the second difference, so straight drift is untouched),
with λ chosen by generalised cross-validation from the data itself: clean, curved
trajectories keep their shape, noisy ones lose their noise.
"""

from __future__ import annotations

import numpy as np

LAMBDAS = np.logspace(-3, 5, 33)
MIN_FRAMES = 5


def smooth_trajectory(shifts: np.ndarray) -> np.ndarray:
    """Smoothed shifts (F, 2) (same origin convention as the input: the result is not re-referenced)."""
    shifts = np.asarray(shifts, dtype=np.float64)
    n = shifts.shape[0]
    if n < MIN_FRAMES:
        return shifts.copy()
    second = np.diff(np.eye(n), n=2, axis=0)
    eigenvalues, vectors = np.linalg.eigh(second.T @ second)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    projected = vectors.T @ shifts  # (F, 2)
    factors = 1.0 / (1.0 + LAMBDAS[:, None] * eigenvalues[None, :])  # (L, F)
    fitted = np.einsum("fk,lk,kd->lfd", vectors, factors, projected)  # (L, F, 2)
    rss = ((fitted - shifts[None]) ** 2).sum(axis=(1, 2))
    trace = factors.sum(axis=1)
    gcv = n * rss / np.maximum(n - trace, 1e-12) ** 2
    return fitted[int(np.argmin(gcv))]


__all__ = ["smooth_trajectory"]
