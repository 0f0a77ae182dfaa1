"""The particles STAR rows and optics groups of extracted particles, as relion_preprocess writes them.

Rows: the coordinate file's (or refined particle's) columns, then rlnImageName
(``000001@Extract/job009/Movies/mic.mrcs``), rlnMicrographName, rlnOpticsGroup and the
micrograph's CTF columns (rlnCtfMaxResolution, rlnCtfFigureOfMerit, rlnDefocusU/V/Angle,
rlnCtfBfactor, rlnCtfScalefactor, rlnPhaseShift; the last three default to 0, 1, 0). Columns a
refined particle already has (e.g. per-particle defocus) are kept. Optics: the micrographs'
groups without rlnMicrographPixelSize, plus rlnImagePixelSize (the micrograph pixel size ×
box / rescaled box), rlnImageSize, rlnImageDimensionality 2 and rlnCtfDataAreCtfPremultiplied 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vitreo.io.image_refs import format_image_names
from vitreo.io.star import Table
from vitreo.picking.micrograph_table import MicrographEntry

CTF_COLUMNS = ("rlnCtfMaxResolution", "rlnCtfFigureOfMerit", "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle",
               "rlnCtfBfactor", "rlnCtfScalefactor", "rlnPhaseShift")
CTF_DEFAULTS = {"rlnCtfBfactor": 0.0, "rlnCtfScalefactor": 1.0, "rlnPhaseShift": 0.0}
PLACED = ("rlnImageName", "rlnMicrographName", "rlnOpticsGroup")


def particle_rows(source: Table, entry: MicrographEntry, stack: str) -> Table:
    """Rows for the particles of ``source`` (in order) stored as images 1… of ``stack``."""
    n = len(source)
    columns: dict[str, Any] = {label: source[label] for label in source.labels if label not in PLACED}
    columns["rlnImageName"] = format_image_names(np.arange(n), stack).astype(object)
    columns["rlnMicrographName"] = np.full(n, entry.name, dtype=object)
    columns["rlnOpticsGroup"] = np.full(n, entry.optics_group, dtype=np.int64)
    if entry.ctf is not None:
        for label in CTF_COLUMNS:
            value = entry.columns.get(label, CTF_DEFAULTS.get(label))
            if value is not None and label not in columns:
                columns[label] = np.full(n, value)
    return Table(columns)


def concatenate_tables(tables: list[Table]) -> Table:
    """Rows of several tables in order; a column missing from some is filled with "", 0 or False
    there (as a value never set in a RELION MetaDataTable)."""
    labels = list(dict.fromkeys(label for table in tables for label in table.labels))
    columns = {}
    for label in labels:
        kind = next(table[label] for table in tables if label in table)
        blank: Any = "" if kind.dtype == object else kind.dtype.type(0)
        columns[label] = np.concatenate([table[label] if label in table else np.full(len(table), blank, kind.dtype)
                                         for table in tables]) if tables else kind[:0]
    return Table(columns)


def particle_optics(optics: Table, micrograph_pixel_size: float, box: int, final_box: int) -> Table:
    """Optics groups of particles cut as ``box`` px and stored as ``final_box`` px."""
    columns = {label: optics[label] for label in optics.labels if label != "rlnMicrographPixelSize"}
    n = len(optics)
    pixel = optics["rlnMicrographPixelSize"] if "rlnMicrographPixelSize" in optics else np.full(n, micrograph_pixel_size)
    columns["rlnImagePixelSize"] = np.asarray(pixel, float) * box / final_box
    columns["rlnImageSize"] = np.full(n, final_box, dtype=np.int64)
    columns["rlnImageDimensionality"] = np.full(n, 2, dtype=np.int64)
    columns["rlnCtfDataAreCtfPremultiplied"] = np.zeros(n, dtype=np.int64)
    return Table(columns)


__all__ = ["CTF_COLUMNS", "CTF_DEFAULTS", "particle_rows", "concatenate_tables", "particle_optics"]
