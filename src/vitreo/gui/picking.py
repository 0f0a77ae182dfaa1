"""Manual picking and review of picks in the GUI, on a ManualPick or AutoPick job.

The job's micrographs come from its input micrographs option; each micrograph's picks live in
the job's coordinate file for it (``<job>/Movies/<name>_manualpick.star``, or ``_autopick.star``,
as listed in the job's index ``manualpick.star``/``autopick.star``). Saving writes that file
with RELION's manual-picking columns (rlnCoordinateX/Y, rlnParticleSelectionType 2, rlnAnglePsi,
rlnAutopickFigureOfMerit; −999 for new picks) and lists it in the index, as RELION's picker does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitreo.gui.paths import project_file
from vitreo.io.coords import coordinate_file_for, read_coordinates, write_coordinates
from vitreo.io.mrc import read_header_info
from vitreo.io.star import Table
from vitreo.jobs.star_tables import STAR_VERSION
from vitreo.picking.coordinate_review import UNSET, manualpick_table
from vitreo.picking.coordinate_sets import read_coordinate_index, write_coordinate_index
from vitreo.picking.micrograph_table import read_micrograph_table
from vitreo.pipeline.job_star import JOB_STAR, read_job_star
from vitreo.pipeline.project import Project

# job type label -> (option naming its micrographs, coordinate index file)
PICKING_JOBS = {"relion.manualpick": ("fn_in", "manualpick.star"), "relion.autopick": ("fn_input_autopick", "autopick.star")}
DIAMETER_OPTIONS = ("diameter", "log_diam_max", "particle_diameter")
DISPLAY_OPTIONS = ("micscale", "sigma_contrast", "white_val", "black_val", "lowpass", "highpass", "do_color",
                   "color_label", "blue_value", "red_value")


@dataclass(frozen=True)
class PickingJob:
    """A job whose picks can be shown and edited: its name, micrographs and coordinate index."""

    name: str
    micrographs: list[str]
    pixel_sizes: list[float]
    ctf_images: list[str | None]
    index: str  # project-relative
    values: dict[str, str]

    @property
    def suffix(self) -> str:
        return "_" + Path(self.index).name  # _manualpick.star, _autopick.star

    def coordinate_file(self, micrograph: str) -> str:
        """The project-relative coordinate file of ``micrograph`` in this job."""
        if micrograph not in self.micrographs:
            raise ValueError(f"{micrograph} is not one of the micrographs of {self.name}")
        return coordinate_file_for(micrograph, self.suffix, self.name).as_posix()


def picking_job(project: Project, reference: str) -> PickingJob:
    """The ManualPick or AutoPick job ``reference``; ValueError for other job types."""
    process = project.resolve(project.read(), reference)
    kind = next((label for label in PICKING_JOBS if process.type_label.startswith(label)), None)
    if kind is None:
        raise ValueError(f"{process.name} is a {process.type_label} job: only ManualPick and AutoPick jobs hold picks")
    option, index = PICKING_JOBS[kind]
    values = read_job_star(project.path(process.name) / JOB_STAR).values
    source = values.get(option, "")
    if not source:
        raise ValueError(f"{process.name} names no input micrographs ({option})")
    table = read_micrograph_table(project_file(project.root, source), float(values.get("angpix", "-1") or -1))
    entries = table.entries
    return PickingJob(process.name, [e.name for e in entries], [e.pixel_size for e in entries],
                      [str(e.columns["rlnCtfImage"]) if "rlnCtfImage" in e.columns else None for e in entries],
                      process.name + index, values)


def job_summary(project: Project, job: PickingJob) -> dict[str, Any]:
    """The micrographs with their pick counts and the display settings of the job."""
    counts = []
    for micrograph in job.micrographs:
        path = project_file(project.root, job.coordinate_file(micrograph))
        counts.append(len(read_coordinates(path)) if path.is_file() else 0)
    diameter = next((float(job.values[o]) for o in DIAMETER_OPTIONS if float(job.values.get(o, "-1") or -1) > 0), 100.0)
    return {"job": job.name, "micrographs": [
        {"name": name, "picks": count, "pixel_size": pixel, "ctf_image": ctf.split(":")[0] if ctf else None}
        for name, count, pixel, ctf in zip(job.micrographs, counts, job.pixel_sizes, job.ctf_images)],
        "diameter": diameter, "display": {k: job.values[k] for k in DISPLAY_OPTIONS if k in job.values}}


def read_picks(project: Project, job: PickingJob, micrograph: str, colour_label: str = "rlnAutopickFigureOfMerit"
               ) -> dict[str, Any]:
    """Picks of one micrograph (pixels) with their FOM and the values of ``colour_label`` (None if absent)."""
    path = project_file(project.root, job.coordinate_file(micrograph))
    table = read_coordinates(path) if path.is_file() else Table({"rlnCoordinateX": [], "rlnCoordinateY": []})
    n = len(table)
    fom = table["rlnAutopickFigureOfMerit"] if "rlnAutopickFigureOfMerit" in table else np.full(n, UNSET)
    colour = table[colour_label].tolist() if colour_label in table and table[colour_label].dtype != object else None
    return {"micrograph": micrograph, "x": table["rlnCoordinateX"].tolist(), "y": table["rlnCoordinateY"].tolist(),
            "fom": np.asarray(fom, float).tolist(), "colour": colour, "file": job.coordinate_file(micrograph)}


def save_picks(project: Project, job: PickingJob, micrograph: str, x: list[float], y: list[float],
               fom: list[float] | None = None) -> int:
    """Write the picks of one micrograph (inside it) and list the file in the job's index."""
    if len(x) != len(y) or (fom is not None and len(fom) != len(x)):
        raise ValueError("x, y (and fom) must have one value per pick")
    target = job.coordinate_file(micrograph)
    info = read_header_info(project_file(project.root, micrograph))
    xy = np.asarray([x, y], dtype=float).reshape(2, -1)
    if xy.size and (xy.min() < 0 or np.any(xy[0] >= info.nx) or np.any(xy[1] >= info.ny)):
        raise ValueError(f"picks must lie inside {micrograph} ({info.nx} x {info.ny} pixels)")
    table = Table({"rlnCoordinateX": xy[0], "rlnCoordinateY": xy[1],
                   "rlnAutopickFigureOfMerit": np.full(xy.shape[1], UNSET) if fom is None else np.asarray(fom, float)})
    write_coordinates(project_file(project.root, target), manualpick_table(table), version=STAR_VERSION)
    index_path = project_file(project.root, job.index)
    listed = read_coordinate_index(index_path) if index_path.is_file() else {}
    listed[micrograph] = target
    write_coordinate_index(index_path, {m: listed[m] for m in job.micrographs if m in listed}, STAR_VERSION)
    return xy.shape[1]


__all__ = ["PICKING_JOBS", "PickingJob", "picking_job", "job_summary", "read_picks", "save_picks"]
