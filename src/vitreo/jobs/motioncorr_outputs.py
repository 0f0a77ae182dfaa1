"""The job-level outputs of MotionCorr: corrected_micrographs.star and logfile.pdf.

Both are rebuilt from the per-movie files of every input movie that has a corrected
micrograph, in input order, so a continued job lists old and new micrographs alike
(RELION does the same). corrected_micrographs.star holds the input's optics groups with
rlnMicrographPixelSize = original pixel size × binning, and per micrograph (RELION 5's
columns) rlnMicrographNameNoDW (when written), rlnCtfPowerSpectrum (when written),
rlnMicrographName, rlnMicrographMetadata, rlnOpticsGroup and rlnAccumMotionTotal/Early/Late.
With aligned movies (``--save_movies``), corrected_micrograph_movies.star lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.star import Table, write_star
from vitreo.jobs.motioncorr_movie import MOVIE_TAG, output_root
from vitreo.jobs.star_tables import STAR_VERSION, append_rows
from vitreo.plots.motion_plot import MovieTrace, write_motion_logfile
from vitreo.preprocess.motion_files import MotionRecord, accumulated_motion, read_motion_star
from vitreo.em.motion_polynomial import PolynomialMotion

STATISTICS = ("rlnAccumMotionTotal", "rlnAccumMotionEarly", "rlnAccumMotionLate")


def corrected_rows(job_dir: Path, movies: Sequence[str], groups: Sequence[int]) -> tuple[list[dict], list[MovieTrace]]:
    """Rows for corrected_micrographs.star and shift traces for the logfile, for movies already done."""
    rows, traces = [], []
    for movie, group in zip(movies, groups):
        root = output_root(str(job_dir), movie)
        if not Path(root + ".mrc").exists():
            continue
        row: dict = {}
        if Path(root + "_noDW.mrc").exists():
            row["rlnMicrographNameNoDW"] = root + "_noDW.mrc"
        if Path(root + "_PS.mrc").exists():
            row["rlnCtfPowerSpectrum"] = root + "_PS.mrc"
        row.update(rlnMicrographName=root + ".mrc", rlnMicrographMetadata=root + ".star", rlnOpticsGroup=int(group))
        try:
            record = read_motion_star(root + ".star")
        except InputError:
            rows.append(row)
            continue
        row.update(zip(STATISTICS, accumulated_motion(record)))
        rows.append(row)
        traces.append(movie_trace(root + ".mrc", record))
    return rows, traces


def write_corrected_micrographs(job_dir: Path, optics: Table, rows: list[dict], bin_factor: float) -> Path:
    """Write corrected_micrographs.star (see the module docstring)."""
    optics = optics.copy()
    optics["rlnMicrographPixelSize"] = np.asarray(optics["rlnMicrographOriginalPixelSize"], float) * bin_factor
    target = job_dir / "corrected_micrographs.star"
    write_star(target, {"optics": optics, "micrographs": append_rows(None, rows)}, version=STAR_VERSION)
    return target


def write_corrected_movies(job_dir: Path, optics: Table, rows: list[dict], bin_factor: float) -> Path | None:
    """corrected_micrograph_movies.star (RELION 3.0's list of aligned movies: rlnMicrographMovieName,
    rlnMicrographName, rlnOpticsGroup) for the micrographs whose aligned movie exists; None if none does."""
    movies = [{"rlnMicrographMovieName": row["rlnMicrographName"][: -len(".mrc")] + MOVIE_TAG + ".mrcs",
               "rlnMicrographName": row["rlnMicrographName"], "rlnOpticsGroup": row["rlnOpticsGroup"]}
              for row in rows]
    movies = [row for row in movies if Path(row["rlnMicrographMovieName"]).exists()]
    if not movies:
        return None
    optics = optics.copy()
    optics["rlnMicrographPixelSize"] = np.asarray(optics["rlnMicrographOriginalPixelSize"], float) * bin_factor
    target = job_dir / "corrected_micrograph_movies.star"
    write_star(target, {"optics": optics, "movies": append_rows(None, movies)}, version=STAR_VERSION)
    return target


def write_logfile(job_dir: Path, rows: list[dict], traces: list[MovieTrace]) -> Path:
    """Write logfile.pdf: accumulated-motion statistics, then each movie's shift traces."""
    statistics = {label: [row[label] for row in rows if label in row] for label in STATISTICS}
    target = job_dir / "logfile.pdf"
    write_motion_logfile(target, {k: v for k, v in statistics.items() if v}, traces)
    return target


def movie_trace(name: str, record: MotionRecord) -> MovieTrace:
    """A movie's tracks for the logfile: global shifts and, at each patch, observed and fitted local shifts."""
    observations = record.patch_observations
    if observations is None or not len(observations):
        return MovieTrace(name, record.size, record.shifts)
    x, y = observations["rlnCoordinateX"], observations["rlnCoordinateY"]
    z = observations["rlnMicrographFrameNumber"] - record.start_frame
    shifts = np.stack([observations["rlnMicrographShiftX"], observations["rlnMicrographShiftY"]], axis=1)
    centres, patch = np.unique(np.stack([x, y], axis=1), axis=0, return_inverse=True)
    patch = patch.reshape(-1)
    counts = np.bincount(patch)
    if counts.min() != counts.max():
        return MovieTrace(name, record.size, record.shifts)
    order = np.lexsort((z, patch))
    observed = shifts[order].reshape(len(centres), counts[0], 2)
    fitted = np.zeros_like(observed)
    if record.local_coefficients is not None:
        model = PolynomialMotion(np.asarray(record.local_coefficients, float), record.size)
        frames = np.sort(np.unique(z))
        fitted = model.shifts(centres[:, 0], centres[:, 1], frames).transpose(1, 0, 2)[:, : counts[0]]
    return MovieTrace(name, record.size, record.shifts, centres, observed, fitted)


__all__ = ["corrected_rows", "write_corrected_micrographs", "write_corrected_movies", "write_logfile", "movie_trace",
           "STATISTICS"]
