"""Peaks of a figure-of-merit map: local maxima above a threshold, away from edges and noisy
areas, then at least a minimum distance apart.

- Candidates are work pixels that hold the maximum of their 3×3 neighbourhood, reach
  ``threshold``, lie at least ``skip_side`` micrograph pixels inside the micrograph, and
  (when enabled) whose local background standard deviation is at most ``max_stddev`` (RELION's
  "maximum stddev noise", ≤ 0: off) and mean at least ``min_avg`` (RELION's "minimum avg
  noise", ≤ −900: off), which keeps picks off carbon and contamination.
- Positions are refined to sub-pixel precision by a parabola through each peak and its
  neighbours along x and y, then converted to micrograph pixels (x = work x · N/W).
- Of two peaks closer than ``min_distance`` the weaker is removed, iteratively: the result is
  what a greedy pass from the strongest peak down keeps, computed in parallel rounds over the
  close pairs (no loop over peaks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

AVG_OFF = -900.0  # min_avg at or below this switches the minimum-average test off (RELION: -999)


@dataclass(frozen=True)
class Peaks:
    """Picked positions (micrograph pixels), their FOM, psi (degrees) and 0-based reference."""

    x: np.ndarray
    y: np.ndarray
    fom: np.ndarray
    psi: np.ndarray
    reference: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def select(self, keep: np.ndarray) -> Peaks:
        return Peaks(self.x[keep], self.y[keep], self.fom[keep], self.psi[keep], self.reference[keep])


def local_maxima(values: torch.Tensor) -> torch.Tensor:
    """Boolean (y, x): pixels equal to the maximum of their 3×3 neighbourhood."""
    pooled = torch.nn.functional.max_pool2d(values[None, None], 3, stride=1, padding=1)[0, 0]
    return values >= pooled


def subpixel_offsets(values: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Parabolic sub-pixel offsets (dy, dx) in [−0.5, 0.5] of peaks at (rows, cols) (periodic edges)."""
    ny, nx = values.shape

    def offset(before: torch.Tensor, centre: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        curvature = before - 2 * centre + after
        step = torch.where(curvature < 0, 0.5 * (before - after) / curvature.clamp_max(-1e-12), 0.0)
        return torch.nan_to_num(step).clamp(-0.5, 0.5)

    centre = values[rows, cols]
    dy = offset(values[(rows - 1) % ny, cols], centre, values[(rows + 1) % ny, cols])
    dx = offset(values[rows, (cols - 1) % nx], centre, values[rows, (cols + 1) % nx])
    return dy, dx


def suppress_close(x: np.ndarray, y: np.ndarray, strength: np.ndarray, min_distance: float | np.ndarray) -> np.ndarray:
    """Mask of peaks kept when, of any two closer than the stronger one's ``min_distance`` (one value
    or one per peak), the weaker goes: what a greedy pass from the strongest peak down keeps."""
    n = len(x)
    radius = np.broadcast_to(np.asarray(min_distance, float), (n,))
    if n == 0 or radius.max() <= 0:
        return np.ones(n, bool)
    order = np.argsort(-strength, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    pairs = cKDTree(np.stack([x, y], 1)).query_pairs(float(radius.max()), output_type="ndarray")
    stronger = np.where(rank[pairs[:, 0]] < rank[pairs[:, 1]], pairs[:, 0], pairs[:, 1])
    weaker = pairs[:, 0] + pairs[:, 1] - stronger
    close = np.hypot(x[stronger] - x[weaker], y[stronger] - y[weaker]) < radius[stronger]
    stronger, weaker = stronger[close], weaker[close]
    kept, undecided = np.zeros(n, bool), np.ones(n, bool)
    while undecided.any():
        blocked = np.bincount(weaker[kept[stronger]], minlength=n) > 0
        waiting = np.bincount(weaker[undecided[stronger]], minlength=n) > 0
        newly = undecided & ~blocked & ~waiting
        kept |= newly
        undecided &= ~(newly | blocked)
    return kept


def find_peaks(
    fom: torch.Tensor,
    psi: torch.Tensor,
    reference: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    scale: float,
    shape: tuple[int, int],
    threshold: float,
    min_distance: float,
    skip_side: float,
    max_stddev: float = -1.0,
    min_avg: float = -999.0,
) -> Peaks:
    """Peaks of a FOM map on a work grid (see the module docstring).

    ``scale`` is work pixels per micrograph pixel; ``shape`` the micrograph's (ny, nx) in pixels;
    ``min_distance`` and ``skip_side`` in micrograph pixels.
    """
    ny, nx = shape
    size = fom.shape[-1]
    work = torch.arange(size, device=fom.device, dtype=torch.float32) / scale
    inside_y = (work >= skip_side) & (work < ny - skip_side)
    inside_x = (work >= skip_side) & (work < nx - skip_side)
    candidate = local_maxima(fom) & (fom >= threshold) & inside_y[:, None] & inside_x[None, :]
    if max_stddev > 0:
        candidate &= std <= max_stddev
    if min_avg > AVG_OFF:
        candidate &= mean >= min_avg
    rows, cols = torch.nonzero(candidate, as_tuple=True)
    dy, dx = subpixel_offsets(fom, rows, cols)
    peaks = Peaks(
        x=((cols.double() + dx.double()) / scale).cpu().numpy(),
        y=((rows.double() + dy.double()) / scale).cpu().numpy(),
        fom=fom[rows, cols].double().cpu().numpy(),
        psi=psi[rows, cols].double().cpu().numpy(),
        reference=reference[rows, cols].cpu().numpy(),
    )
    return peaks.select(suppress_close(peaks.x, peaks.y, peaks.fom, min_distance))


__all__ = ["AVG_OFF", "Peaks", "local_maxima", "subpixel_offsets", "suppress_close", "find_peaks"]
