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
        """Projections (R, count) complex64 of classes (R,) in orientations (R, D, D).

        Slices are computed on the smallest even grid that holds the first ``count`` pixels.
        """
        count = len(pixels) if count is None else count
        size = 2 * (int(pixels.shell[count - 1]) + 1) if count else 2
        device = self.projectors[0].device
        out = torch.empty(classes.shape[0], count, dtype=torch.complex64, device=device)
        index = pixels.grid_index(size, count)
        rotations = rotations.to(device)
        classes = classes.to(device)
        for k in torch.unique(classes).tolist():
            chosen = torch.nonzero(classes == k).squeeze(-1)
            slices = self.projectors[k].project(rotations[chosen], image_size=size, max_radius=size / 2)
            out[chosen] = slices.reshape(chosen.numel(), -1)[:, index]
        return out
