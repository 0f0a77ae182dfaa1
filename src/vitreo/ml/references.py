"""Projections of the class references on the likelihood pixels.

A hypothesis pairs a class k with an orientation A: its projection is the central slice of the
class's reference (a 3D map) or its in-plane rotation (a 2D image), both by
:class:`vitreo.em.projector.Projector`, as rfft values on the first ``count`` pixels of a
:class:`vitreo.ml.pixels.FourierPixels` set.
"""

from __future__ import annotations

import torch

from vitreo.em.projector import Projector
from vitreo.ml.pixels import FourierPixels


class ReferenceProjector:
    """K references (K, N, N) or (K, N, N, N) prepared once per iteration for many projections."""

    def __init__(self, references: torch.Tensor, padding: float = 2.0, device: torch.device | str | None = None):
        self.ndim = references.dim() - 1
        self.n_classes = references.shape[0]
        self.projectors = [Projector(ref.to(device=device, dtype=torch.float32), padding) for ref in references]

    def project(
        self, classes: torch.Tensor, rotations: torch.Tensor, pixels: FourierPixels, count: int | None = None
    ) -> torch.Tensor:
        """Projections (R, count) complex64 of classes (R,) in orientations (R, D, D), on the first
        ``count`` pixels (default all)."""
        count = len(pixels) if count is None else count
        device = self.projectors[0].device
        coords = pixels.coords[:count].to(device)
        rotations = rotations.to(device)
        classes = classes.to(device)
        present = torch.unique(classes).tolist()
        if len(present) == 1:
            return self.projectors[present[0]].project_pixels(rotations, coords).to(torch.complex64)
        out = torch.empty(classes.shape[0], count, dtype=torch.complex64, device=device)
        for k in present:
            chosen = torch.nonzero(classes == k).squeeze(-1)
            out[chosen] = self.projectors[k].project_pixels(rotations[chosen], coords)
        return out
