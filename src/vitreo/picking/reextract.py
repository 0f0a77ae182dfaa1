"""Coordinates for re-extracting refined particles (RELION's --reextract_data_star).

A refined particle's centre lies at coordinate − origin / p_mic (origin rlnOriginX/YAngst in Å,
p_mic the micrograph pixel size). Re-centring moves the coordinate onto that centre, or onto the
point c = (recenter_x, y, z) of the reference (in reference pixels of size p_img), which the
particle's orientation A (RELION Euler angles) projects to the image position (A·c)_xy:

    new coordinate = coordinate + ((A·c)_xy · p_img − origin) / p_mic.

The box is cut at the rounded new coordinate, so the sub-pixel rest is kept as the new origin,
(round(c) − c) · p_mic Å: the particle centre stays exactly at box centre − origin. Resetting
offsets keeps the coordinates and sets the origins to 0; otherwise both are kept as they are.
"""

from __future__ import annotations

import numpy as np
import torch

from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.io.star import Table


def reextraction_coordinates(particles: Table, micrograph_pixel: float, image_pixel: float, *, recenter: bool,
                             reset_offsets: bool, centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Table:
    """A copy of ``particles`` (one micrograph's rows) with coordinates and origins for re-extraction."""
    table = particles.copy()
    n = len(table)
    origin = np.stack([_column(table, "rlnOriginXAngst", n), _column(table, "rlnOriginYAngst", n)], 1)
    if reset_offsets:
        origin[:] = 0.0
    elif recenter:
        angles = [_column(table, label, n) for label in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")]
        matrices = euler_degrees_to_matrix(*(torch.from_numpy(a) for a in angles))
        projected = (matrices @ torch.tensor(centre, dtype=torch.float64))[:, :2].numpy()
        coordinate = np.stack([table["rlnCoordinateX"], table["rlnCoordinateY"]], 1).astype(float)
        coordinate = coordinate + (projected * image_pixel - origin) / micrograph_pixel
        table["rlnCoordinateX"], table["rlnCoordinateY"] = coordinate[:, 0], coordinate[:, 1]
        origin = (np.rint(coordinate) - coordinate) * micrograph_pixel
    table["rlnOriginXAngst"], table["rlnOriginYAngst"] = origin[:, 0], origin[:, 1]
    return table


def _column(table: Table, label: str, n: int) -> np.ndarray:
    return np.asarray(table[label], float) if label in table else np.zeros(n)


__all__ = ["reextraction_coordinates"]
