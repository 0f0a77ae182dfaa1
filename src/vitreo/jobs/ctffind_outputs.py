"""The job-level outputs of CtfFind: micrographs_ctf.star and logfile.pdf.

Rebuilt from the CTFFIND files of every input micrograph that has a complete result (so a
continued job lists old and new results), in input order, with RELION 5's columns:
rlnMicrographNameNoDW (with ``use_noDW``), rlnMicrographName, rlnOpticsGroup, rlnCtfImage
(``R.ctf:mrc``), rlnDefocusU, rlnDefocusV, rlnCtfAstigmatism (|U − V|), rlnDefocusAngle,
rlnCtfFigureOfMerit, rlnCtfMaxResolution (capped at 25 Å, as RELION caps it), rlnPhaseShift
(with phase-shift search) and rlnCtfIceRingDensity (when the spectrum reaches the ice ring).
The optics table is the input's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from vitreo.io.star import Table, write_star
from vitreo.jobs.star_tables import STAR_VERSION, append_rows
from vitreo.plots.ctf_plot import write_ctf_logfile
from vitreo.preprocess.ctffind_files import read_ctffind_results

MAX_RESOLUTION_CAP = 25.0  # Å, RELION's upper limit on rlnCtfMaxResolution
PLOTTED = ("rlnDefocusU", "rlnDefocusAngle", "rlnCtfAstigmatism", "rlnCtfMaxResolution", "rlnPhaseShift",
           "rlnCtfFigureOfMerit", "rlnCtfIceRingDensity")


def ctf_rows(micrographs: Sequence[str], groups: Sequence[int], roots: Sequence[str], no_dw: Sequence[str] | None,
             phase_shift: bool) -> tuple[list[dict], list[str]]:
    """Rows for micrographs_ctf.star of micrographs with results, and the micrographs without."""
    rows, missing = [], []
    for index, (micrograph, group, root) in enumerate(zip(micrographs, groups, roots)):
        result = read_ctffind_results(root)
        if result is None:
            missing.append(micrograph)
            continue
        row: dict = {}
        if no_dw is not None:
            row["rlnMicrographNameNoDW"] = no_dw[index]
        row.update(rlnMicrographName=micrograph, rlnOpticsGroup=int(group), rlnCtfImage=root + ".ctf:mrc",
                   rlnDefocusU=result.defocus_u, rlnDefocusV=result.defocus_v,
                   rlnCtfAstigmatism=abs(result.defocus_u - result.defocus_v), rlnDefocusAngle=result.angle,
                   rlnCtfFigureOfMerit=result.figure_of_merit if math.isfinite(result.figure_of_merit) else 0.0,
                   rlnCtfMaxResolution=min(MAX_RESOLUTION_CAP, result.max_resolution))
        if phase_shift:
            row["rlnPhaseShift"] = result.phase_shift
        if result.ice_ring_density > 0:
            row["rlnCtfIceRingDensity"] = result.ice_ring_density
        rows.append(row)
    return rows, missing


def write_micrographs_ctf(job_dir: Path, optics: Table, rows: list[dict]) -> Path:
    target = job_dir / "micrographs_ctf.star"
    write_star(target, {"optics": optics, "micrographs": append_rows(None, rows)}, version=STAR_VERSION)
    return target


def write_logfile(job_dir: Path, rows: list[dict]) -> Path:
    columns = {label: [row.get(label, 0.0) for row in rows] for label in PLOTTED if any(label in r for r in rows)}
    target = job_dir / "logfile.pdf"
    write_ctf_logfile(target, columns)
    return target


__all__ = ["ctf_rows", "write_micrographs_ctf", "write_logfile", "MAX_RESOLUTION_CAP"]
