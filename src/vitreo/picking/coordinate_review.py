"""Checking and filtering picked coordinates before they are kept or extracted.

Coordinates outside the micrograph (x not in [0, nx), y not in [0, ny) pixels) are dropped and
counted, so that one bad file does not stop a job; coordinates with an rlnAutopickFigureOfMerit
below a minimum are dropped on request (RELION's "Use autopick FOM threshold?"). Manually
reviewed picks are written with RELION's manual-picking columns: rlnCoordinateX/Y,
rlnParticleSelectionType (2), rlnAnglePsi and rlnAutopickFigureOfMerit (−999 when unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vitreo.io.coords import centres
from vitreo.io.star import Table

UNSET = -999.0  # RELION's value for a psi or FOM that a manual pick does not have
MANUAL_SELECTION = 2  # rlnParticleSelectionType of picks made or kept by hand


@dataclass(frozen=True)
class ReviewedCoordinates:
    """The coordinates kept, and how many were outside the micrograph or below the FOM threshold."""

    table: Table
    outside: int
    below_threshold: int


def fom_at_least(table: Table, minimum_fom: float | None) -> np.ndarray:
    """Mask of rows whose rlnAutopickFigureOfMerit reaches ``minimum_fom`` (all when None or no FOM)."""
    if minimum_fom is None or "rlnAutopickFigureOfMerit" not in table:
        return np.ones(len(table), bool)
    return np.asarray(table["rlnAutopickFigureOfMerit"], float) >= minimum_fom


def review_coordinates(table: Table, shape: tuple[int, int], minimum_fom: float | None = None) -> ReviewedCoordinates:
    """Drop coordinates outside a micrograph of ``shape`` (ny, nx) and, if ``minimum_fom`` is given,
    those whose rlnAutopickFigureOfMerit is below it (rows without a FOM are kept)."""
    ny, nx = shape
    xy = centres(table)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < nx) & (xy[:, 1] >= 0) & (xy[:, 1] < ny)
    good_fom = fom_at_least(table, minimum_fom)
    return ReviewedCoordinates(table.select(inside & good_fom), int((~inside).sum()), int((inside & ~good_fom).sum()))


def manualpick_table(table: Table) -> Table:
    """RELION's manual-picking columns for a coordinate table."""
    n = len(table)
    return Table({
        "rlnCoordinateX": table["rlnCoordinateX"],
        "rlnCoordinateY": table["rlnCoordinateY"],
        "rlnParticleSelectionType": np.full(n, MANUAL_SELECTION, dtype=np.int64),
        "rlnAnglePsi": table["rlnAnglePsi"] if "rlnAnglePsi" in table else np.full(n, UNSET),
        "rlnAutopickFigureOfMerit": table["rlnAutopickFigureOfMerit"] if "rlnAutopickFigureOfMerit" in table
        else np.full(n, UNSET),
    })


__all__ = ["UNSET", "MANUAL_SELECTION", "ReviewedCoordinates", "fom_at_least", "review_coordinates", "manualpick_table"]
