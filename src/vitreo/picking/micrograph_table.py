"""Micrographs to pick or extract from: a RELION micrographs STAR file with its optics and CTFs.

Each :class:`MicrographEntry` carries the micrograph's name (as written in the file), pixel size
(rlnMicrographPixelSize from its optics group; else the ``pixel_size`` given; else the MRC
header), its optics group, every column of its row joined with its optics group's (the
metadata Extract copies onto particles), and CTF parameters when the file has rlnDefocusU.
RELION 2.x/3.0 files (no data_optics) are converted to the 3.1 layout first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vitreo.em.ctf import CtfParams
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_header_info
from vitreo.io.optics import with_optics
from vitreo.io.star import Table, read_star
from vitreo.io.star_convert import convert_to_relion31, is_pre31

CTF_LABELS = ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnVoltage", "rlnSphericalAberration",
              "rlnAmplitudeContrast", "rlnPhaseShift", "rlnCtfBfactor", "rlnCtfScalefactor")


@dataclass(frozen=True)
class MicrographEntry:
    """One micrograph: name, pixel size (Å), optics group, all its columns, CTF values or None."""

    name: str
    pixel_size: float
    optics_group: int
    columns: dict[str, Any] = field(repr=False)
    ctf: dict[str, float] | None = field(default=None, repr=False)

    def ctf_params(self) -> CtfParams:
        """The micrograph's CTF; InputError when the STAR file had none."""
        if self.ctf is None:
            raise InputError(self.name, "no CTF parameters for this micrograph (run CTF estimation first, "
                                        "or switch CTF correction of the references off)")
        try:
            return CtfParams.from_columns(self.ctf)
        except ValueError as err:
            raise InputError(self.name, str(err)) from None


@dataclass(frozen=True)
class MicrographTable:
    """The micrographs of a STAR file, its optics table (None for RELION 3.0 files) and its source."""

    path: str
    entries: list[MicrographEntry]
    optics: Table | None

    def __len__(self) -> int:
        return len(self.entries)


def read_micrograph_table(path: str | os.PathLike[str], pixel_size: float = -1.0) -> MicrographTable:
    """Read a micrographs STAR file (see the module docstring); ``pixel_size`` > 0 is a fallback."""
    blocks = read_star(path)
    if is_pre31(blocks):
        blocks = convert_to_relion31(blocks, pixel_size if pixel_size > 0 else None)
    table = blocks.get("micrographs")
    if table is None:
        table = next((b for b in blocks.values() if isinstance(b, Table) and "rlnMicrographName" in b), None)
    if not isinstance(table, Table) or "rlnMicrographName" not in table:
        raise InputError(path, "no table of micrographs (rlnMicrographName)")
    if len(table) == 0:
        raise InputError(path, "the micrographs table is empty")
    optics = blocks.get("optics")
    optics = optics if isinstance(optics, Table) else None
    try:
        columns = with_optics(table, optics, "micrographs") if optics is not None else dict(table.columns)
    except InputError as err:
        raise InputError(path, err.problem) from None
    entries = []
    for i, name in enumerate(table["rlnMicrographName"]):
        row = {label: values[i].item() if isinstance(values[i], np.generic) else values[i]
               for label, values in columns.items()}
        pixel = float(row.get("rlnMicrographPixelSize", 0.0) or 0.0)
        if pixel <= 0:
            pixel = pixel_size if pixel_size > 0 else _header_pixel_size(path, str(name))
        ctf = {label: float(row[label]) for label in CTF_LABELS if label in row} if "rlnDefocusU" in row else None
        entries.append(MicrographEntry(str(name), pixel, int(row.get("rlnOpticsGroup", 1)), row, ctf))
    return MicrographTable(str(path), entries, optics)


def _header_pixel_size(star: str | os.PathLike[str], micrograph: str) -> float:
    pixel = read_header_info(micrograph).pixel_size
    if pixel <= 0:
        raise InputError(star, f"no pixel size for {micrograph}: the STAR file has no rlnMicrographPixelSize "
                               "and the MRC header none; give it (angpix)")
    return pixel


__all__ = ["CTF_LABELS", "MicrographEntry", "MicrographTable", "read_micrograph_table"]
