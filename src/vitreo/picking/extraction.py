"""Particle boxes cut from a micrograph, as relion_preprocess --extract does.

A particle at coordinate (x, y) (micrograph pixels, 0-based) is cut as the box whose pixel
(box//2, box//2) is micrograph pixel (round(y), round(x)); the sub-pixel rest stays in the
coordinate (re-extraction records it as the origin, see :mod:`reextract`). Boxes that do not
lie entirely inside the micrograph are skipped and counted: those whose centre is outside it
separately (bad coordinates), the others as too close to the edge. The boxes are then
rescaled (Fourier cropping or padding), normalised on the background outside a circle (RELION's
--norm: ramp removed, mean 0, standard deviation 1; optional dust removal) and optionally
contrast-inverted, in that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.fourier import rescale
from vitreo.em.normalise import default_bg_radius, invert_contrast, normalise


@dataclass(frozen=True)
class ExtractSettings:
    """``box`` (even, px) cut from the micrograph; ``rescaled`` box after rescaling (0: none);
    ``bg_radius`` px in the final box (≤ 0: RELION's 75 % default); dust thresholds in σ (≤ 0: off)."""

    box: int
    rescaled: int = 0
    normalise: bool = True
    bg_radius: int = -1
    white_dust: float = -1.0
    black_dust: float = -1.0
    invert: bool = True

    @property
    def final_box(self) -> int:
        return self.rescaled if self.rescaled > 0 else self.box


@dataclass(frozen=True)
class BoxSelection:
    """Which coordinates can be cut: ``kept`` (n,) bool, and counts of those outside the micrograph
    and too close to its edge."""

    kept: np.ndarray
    outside: int
    near_edge: int


def select_boxes(centres: np.ndarray, box: int, shape: tuple[int, int]) -> BoxSelection:
    """Which (x, y) centres (n, 2) have their whole box inside a micrograph of ``shape`` (ny, nx)."""
    ny, nx = shape
    centres = np.asarray(centres, float).reshape(-1, 2)
    corner = np.rint(centres).astype(np.int64) - box // 2
    inside = (centres[:, 0] >= 0) & (centres[:, 0] < nx) & (centres[:, 1] >= 0) & (centres[:, 1] < ny)
    fits = (corner >= 0).all(1) & (corner[:, 0] + box <= nx) & (corner[:, 1] + box <= ny)
    return BoxSelection(fits, int((~inside).sum()), int((inside & ~fits).sum()))


def cut_boxes(image: torch.Tensor, centres: np.ndarray, box: int) -> torch.Tensor:
    """Boxes (n, box, box) around (x, y) centres (n, 2) that fit inside ``image`` (y, x)."""
    corner = torch.from_numpy(np.rint(np.asarray(centres, float).reshape(-1, 2)).astype(np.int64) - box // 2)
    offsets = torch.arange(box)
    rows = (corner[:, 1, None] + offsets).to(image.device)
    cols = (corner[:, 0, None] + offsets).to(image.device)
    return image[rows[:, :, None], cols[:, None, :]]


def prepare_boxes(boxes: torch.Tensor, settings: ExtractSettings,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Rescale, normalise and invert boxes (n, b, b) as RELION's preprocessing does."""
    boxes = boxes.to(torch.float32)
    if settings.rescaled > 0 and settings.rescaled != settings.box:
        boxes = rescale(boxes, (settings.rescaled, settings.rescaled))
    if settings.normalise and len(boxes):
        radius = settings.bg_radius if settings.bg_radius > 0 else default_bg_radius(settings.final_box)
        boxes = normalise(boxes, radius, white_dust=settings.white_dust, black_dust=settings.black_dust,
                          generator=generator)
    return invert_contrast(boxes) if settings.invert else boxes


def bg_radius_for(bg_diameter: float, box: int, rescaled: int) -> int:
    """RELION's background radius in the final box from the Extract option (diameter in px before
    rescaling; < 0: 75 % of the box): int(diameter/2 · rescaled/box)."""
    diameter = 0.75 * box if bg_diameter < 0 else bg_diameter
    radius = diameter / 2.0
    if rescaled > 0:
        radius *= rescaled / box
    return int(radius)


__all__ = ["ExtractSettings", "BoxSelection", "select_boxes", "cut_boxes", "prepare_boxes", "bg_radius_for"]
