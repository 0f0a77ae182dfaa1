"""Where particles sit and how they are oriented.

Positions are (x, y) in pixels of the frame, x along columns, y along rows; they come from
random sequential adsorption: uniform candidates are accepted when no accepted centre lies
closer than the minimum distance (a hard-disk gas, jamming at about 55% area coverage).
Orientations are RELION rotation matrices A (the image is the projection of the map turned
by A, :mod:`vitreo.em.geometry`), uniform over SO(3) or, for a chosen fraction, viewed along
directions drawn from a von Mises–Fisher distribution about a preferred direction with
uniform in-plane angle.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree

from vitreo.em.geometry import euler_to_matrix, random_rotations

#: Candidates drawn per requested position before giving up on filling the field.
_CANDIDATES_PER_POSITION = 40


def random_positions(
    rng: np.random.Generator,
    n: int,
    bounds: tuple[float, float, float, float],
    min_distance: float,
    occupied: np.ndarray | None = None,
    occupied_distance: float | None = None,
) -> np.ndarray:
    """Up to ``n`` positions (m, 2) in the box (x0, y0, x1, y1), at least ``min_distance`` apart
    from each other and ``occupied_distance`` (default ``min_distance``) from ``occupied`` (k, 2).
    Fewer than ``n`` when the field is full."""
    x0, y0, x1, y1 = bounds
    cell = max(min_distance, 1e-6)
    grid: dict[tuple[int, int], list[tuple[float, float]]] = {}
    d2 = min_distance * min_distance

    def free(x: float, y: float) -> bool:
        cx, cy = int(x // cell), int(y // cell)
        for gx in (cx - 1, cx, cx + 1):
            for gy in (cy - 1, cy, cy + 1):
                for px, py in grid.get((gx, gy), ()):
                    if (px - x) ** 2 + (py - y) ** 2 < d2:
                        return False
        return True

    def add(x: float, y: float) -> None:
        grid.setdefault((int(x // cell), int(y // cell)), []).append((x, y))

    accepted: list[tuple[float, float]] = []
    if n <= 0 or x1 <= x0 or y1 <= y0:
        return np.empty((0, 2))
    candidates = rng.uniform((x0, y0), (x1, y1), size=(_CANDIDATES_PER_POSITION * n + 100, 2))
    occupied = np.asarray(occupied if occupied is not None else np.empty((0, 2)), np.float64).reshape(-1, 2)
    if len(occupied):
        nearest, _ = cKDTree(occupied).query(candidates)
        candidates = candidates[nearest >= (min_distance if occupied_distance is None else occupied_distance)]
    for x, y in candidates.tolist():
        if free(x, y):
            add(x, y)
            accepted.append((x, y))
            if len(accepted) == n:
                break
    return np.array(accepted, dtype=np.float64).reshape(-1, 2)


def random_orientations(
    n: int,
    generator: torch.Generator,
    preferred_fraction: float = 0.0,
    preferred_direction_deg: tuple[float, float] = (0.0, 0.0),
    spread_deg: float = 10.0,
) -> torch.Tensor:
    """Rotation matrices (n, 3, 3) float64: uniform, except a ``preferred_fraction`` of them whose
    viewing direction follows a von Mises–Fisher distribution of angular spread ``spread_deg``
    about (rot, tilt) = ``preferred_direction_deg``; in-plane angles stay uniform."""
    rotations = random_rotations(n, generator)
    n_preferred = int(round(preferred_fraction * n))
    if n_preferred == 0:
        return rotations
    chosen = torch.randperm(n, generator=generator)[:n_preferred]
    kappa = 1.0 / max(math.radians(spread_deg), 1e-6) ** 2
    u, phi, psi = torch.rand(3, n_preferred, generator=generator, dtype=torch.float64)
    cos_theta = 1.0 + torch.log(u + (1.0 - u) * math.exp(-2.0 * kappa)) / kappa
    sin_theta = torch.sqrt((1.0 - cos_theta * cos_theta).clamp_min(0.0))
    phi = 2.0 * math.pi * phi
    local = torch.stack([sin_theta * torch.cos(phi), sin_theta * torch.sin(phi), cos_theta], dim=-1)
    rot0, tilt0 = (torch.tensor(math.radians(a), dtype=torch.float64) for a in preferred_direction_deg)
    frame = euler_to_matrix(rot0, tilt0, torch.zeros((), dtype=torch.float64))  # its third row is the direction
    directions = local @ frame  # Aᵀ·v for each row v
    rot = torch.atan2(directions[:, 1], directions[:, 0])
    tilt = torch.acos(directions[:, 2].clamp(-1.0, 1.0))
    rotations[chosen] = euler_to_matrix(rot, tilt, 2.0 * math.pi * psi - math.pi)
    return rotations

