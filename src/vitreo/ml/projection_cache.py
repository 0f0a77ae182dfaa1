"""A bounded cache of reference projections for one iteration of the E-step.

Fine references are projected when a chunk of particles first needs them and kept in a table of
at most ``capacity`` rows (slots); a reference id maps to its slot, or −1. When a request does not
fit in the free slots, the cache starts over (every slot freed): chunks of a batch are sorted so
that neighbours share references, and a full reset is cheaper than tracking use. A request larger
than the whole cache is projected without caching.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vitreo.ml.scoring import StackedProjections

Project = Callable[[torch.Tensor], StackedProjections]


class ProjectionCache:
    """Projections of reference ids in [0, n_references) on F pixels, made by ``project``."""

    def __init__(self, n_references: int, n_pixels: int, capacity: int, project: Project,
                 device: torch.device | str | None = None) -> None:
        self.capacity = max(1, min(n_references, capacity))
        self.project = project
        self.table = StackedProjections.empty(self.capacity, n_pixels, device)
        self.slot_of = torch.full((n_references,), -1, dtype=torch.long, device=device)
        self.used = 0
        self.computed = 0  # projections made so far (for reports and tests)

    def fill_all(self) -> None:
        """Project every reference now (when all fit)."""
        ids = torch.arange(self.slot_of.numel(), device=self.slot_of.device)
        self.get(ids)

    def get(self, ids: torch.Tensor) -> StackedProjections:
        """Projections of distinct reference ids (R,), computing the missing ones."""
        if ids.numel() > self.capacity:
            self.computed += ids.numel()
            return self.project(ids)
        missing = ids[self.slot_of[ids] < 0]
        if self.used + missing.numel() > self.capacity:
            self.slot_of.fill_(-1)
            self.used = 0
            missing = ids
        if missing.numel():
            slots = torch.arange(self.used, self.used + missing.numel(), device=ids.device)
            self.table.assign(slots, self.project(missing))
            self.slot_of[missing] = slots
            self.used += missing.numel()
            self.computed += missing.numel()
        return self.table.select(self.slot_of[ids])
