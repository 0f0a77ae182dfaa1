"""Frame grouping for alignment, as RELION's own motion correction groups frames.

``n // size`` groups of ``size`` consecutive frames; the frames left over are dealt one
at a time to the groups from the last backwards (never to the first, where motion is fastest). A group's shift is
the mean position of its frames, so it is placed at the mean frame index of the group
(RELION places it half a frame later, at start + size/2); frame shifts are interpolated
linearly between group centres and extrapolated linearly beyond the first and last.
Frame indices here are 0-based and count the frames used (from the first frame of the sum).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MIN_GROUPS = 3  # RELION refuses fewer than 3 groups


@dataclass(frozen=True)
class FrameGroups:
    """Start frame and size of each group (both (G,) int arrays)."""

    starts: np.ndarray
    sizes: np.ndarray

    @classmethod
    def make(cls, n_frames: int, size: int) -> FrameGroups:
        """Groups of ``size`` frames over ``n_frames``; ValueError for fewer than 3 groups."""
        if size < 1:
            raise ValueError(f"frame group size must be at least 1, not {size}")
        n_groups = n_frames // size
        if n_groups < MIN_GROUPS:
            raise ValueError(f"too few frames ({n_frames}) for {MIN_GROUPS} groups of {size}")
        sizes = np.full(n_groups, size, dtype=np.int64)
        extra = n_frames - n_groups * size  # dealt round-robin from the last group, never to the first
        np.add.at(sizes, n_groups - 1 - np.arange(extra) % (n_groups - 1), 1)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return cls(starts, sizes)

    @property
    def n_groups(self) -> int:
        return len(self.starts)

    @property
    def n_frames(self) -> int:
        return int(self.sizes.sum())

    @property
    def centres(self) -> np.ndarray:
        """Mean frame index of each group (G,)."""
        return self.starts + (self.sizes - 1) / 2.0

    def membership(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(G, F) matrix with 1 where frame f belongs to group g (to sum frames into groups)."""
        frames = np.arange(self.n_frames)
        member = (frames[None, :] >= self.starts[:, None]) & (frames[None, :] < (self.starts + self.sizes)[:, None])
        return torch.as_tensor(member, dtype=dtype, device=device)

    def interpolate(self, group_values: np.ndarray) -> np.ndarray:
        """Per-frame values (F, ...) from per-group values (G, ...), piecewise linear in frame index."""
        values = np.asarray(group_values, dtype=np.float64)
        if self.sizes.max() == 1:
            return values.copy()
        centres = self.centres
        frames = np.arange(self.n_frames, dtype=np.float64)
        segment = np.clip(np.searchsorted(centres, frames, side="right") - 1, 0, self.n_groups - 2)
        left, right = centres[segment], centres[segment + 1]
        t = ((frames - left) / (right - left)).reshape((-1,) + (1,) * (values.ndim - 1))
        return (1.0 - t) * values[segment] + t * values[segment + 1]


__all__ = ["FrameGroups", "MIN_GROUPS"]
