"""Beam-induced motion in RELION's motion-correction model: global shifts plus a local polynomial.

RELION (``Micrograph::getShiftAt``) describes the alignment of frame f (0-based) at reference
pixel (x, y) by the shift s_f(x, y) = global_f + L(f, x, y), where L is the
``ThirdOrderPolynomialModel`` (:mod:`vitreo.em.motion_polynomial`). Aligning shifts
frame f by +s_f: the aligned sum at r takes frame f at r − s_f(r). So the specimen point that
sits at r in the reference (the first frame, s₀ = 0) appears at r − s_f(r) in frame f, and
the motion this module draws is recorded exactly in RELION's form (pixels of the movie).

Global drift is smooth and fastest in early frames, D·(1 − e^(−z/τ)) along one direction plus
a slow linear creep along another; local motion has no spatially constant part (the global
shift carries it) and follows a cubic in z fitted to the same fast-early profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vitreo.em.motion_polynomial import COEFFS_PER_AXIS, PolynomialMotion, path_length


@dataclass(frozen=True)
class MotionModel:
    """Per-frame global shifts (F, 2) and the 36 local coefficients (x then y), in movie pixels."""

    global_shifts: np.ndarray
    local_coefficients: np.ndarray
    size: tuple[int, int]  # (nx, ny) of the frames the polynomial is normalised by

    @property
    def n_frames(self) -> int:
        return self.global_shifts.shape[0]

    @property
    def local(self) -> PolynomialMotion:
        """The local part L as RELION's polynomial."""
        return PolynomialMotion(self.local_coefficients, self.size)

    def local_shifts(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """L(f, x, y) for pixel positions x, y (n,): (F, n, 2) pixels."""
        return self.local.shifts(x, y, np.arange(self.n_frames))

    def shifts(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Total RELION shift s_f at reference positions (x, y): (F, n, 2) pixels."""
        return self.global_shifts[:, None, :] + self.local_shifts(x, y)

    def positions(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Where the specimen points at reference (x, y) appear in each frame: (F, n, 2) = (x, y) − s_f."""
        return np.stack([x, y], axis=-1)[None] - self.shifts(x, y)

    def accumulated_motion(self) -> float:
        """Total path length of the global shifts in movie pixels, RELION's rlnAccumMotionTotal
        (its label description says Å, but motion correction writes pixels)."""
        return path_length(self.global_shifts)


def static_motion(n_frames: int, size: tuple[int, int]) -> MotionModel:
    """No motion at all."""
    return MotionModel(np.zeros((n_frames, 2)), np.zeros(2 * COEFFS_PER_AXIS), size)


def random_motion(
    rng: np.random.Generator, n_frames: int, size: tuple[int, int], drift_px: float, local_px: float
) -> MotionModel:
    """Smooth random motion: a global drift path of 0.5–1.5 × ``drift_px`` (fastest early) and
    local deviations reaching ``local_px`` at the last frame somewhere in the field."""
    if n_frames < 2 or (drift_px <= 0 and local_px <= 0):
        return static_motion(n_frames, size)
    z = np.arange(n_frames, dtype=np.float64)
    tau = rng.uniform(1.5, 4.0)
    fast = (1.0 - np.exp(-z / tau)) / (1.0 - np.exp(-z[-1] / tau))
    directions = _unit_vectors(rng, 2)
    creep = rng.uniform(0.1, 0.3)
    displacement = (1 - creep) * fast[:, None] * directions[0] + creep * (z / z[-1])[:, None] * directions[1]
    path = np.linalg.norm(np.diff(displacement, axis=0), axis=1).sum()
    displacement *= drift_px * rng.uniform(0.5, 1.5) / path
    coefficients = np.zeros((2, 6, 3))
    if local_px > 0:
        profile = _cubic_profile(z, fast)  # (3,): p1 z + p2 z² + p3 z³ ≈ fast
        amplitudes = rng.normal(size=(2, 6))
        amplitudes[:, 0] = 0.0  # the global shift carries the spatially constant part
        coefficients = amplitudes[:, :, None] * profile[None, None, :]
        grid = np.linspace(0.0, 1.0, 9) * np.array(size)[:, None]
        gx, gy = np.meshgrid(grid[0], grid[1])
        model = MotionModel(np.zeros((n_frames, 2)), coefficients.reshape(-1), size)
        largest = np.linalg.norm(model.local_shifts(gx.ravel(), gy.ravel())[-1], axis=-1).max()
        coefficients = coefficients * (local_px / largest if largest > 0 else 0.0)
    return MotionModel(0.0 - displacement, coefficients.reshape(-1), size)


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    angles = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _cubic_profile(z: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Coefficients (3,) of p₁z + p₂z² + p₃z³ fitting ``target`` in least squares (exact through 0)."""
    basis = np.stack([z, z**2, z**3], axis=1)
    rank = min(3, len(z) - 1)
    solution, *_ = np.linalg.lstsq(basis[:, :rank], target, rcond=None)
    return np.pad(solution, (0, 3 - rank))
