"""Plot endpoints: the CTF fit of a micrograph, the angular distribution of refined particles and
a movie's motion tracks, as JSON (drawn by the page) or PNG. File names are project-relative.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from vitreo.gui import images
from vitreo.gui.ctf_fit import ctf_fit_files, fit_json, half_and_half
from vitreo.gui.paths import project_file
from vitreo.gui.state import GuiState, gui_state
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star
from vitreo.jobs.motioncorr_outputs import movie_trace
from vitreo.plots.angular_distribution import direction_histogram
from vitreo.preprocess.motion_files import read_motion_star

router = APIRouter(prefix="/api")
State = Depends(gui_state)
PNG = "image/png"


@router.get("/display/ctf")
def ctf_fit(path: str, state: GuiState = State) -> dict[str, Any]:
    """The CTF fit whose diagnostic image is ``path`` (R.ctf): parameters and 1D profiles."""
    return fit_json(ctf_fit_files(state.root, path))


@router.get("/display/ctf/fit.png")
def ctf_fit_png(path: str, scale: float = 1.0, state: GuiState = State) -> Response:
    """The spectrum (left half) beside the CTF² of the fitted parameters (right half)."""
    image = images.rescaled(half_and_half(ctf_fit_files(state.root, path)), scale)
    return Response(images.to_png(image, 0.0, 1.0), media_type=PNG)


@router.get("/display/angdist")
def angular_distribution(path: str, bins: int = Query(18, ge=2, le=90), state: GuiState = State) -> dict[str, Any]:
    """Particles per viewing direction (rlnAngleRot, rlnAngleTilt) in equal-area cells: counts
    (2·bins longitudes × bins latitudes), their edges in degrees and the density per steradian."""
    table = _angles_table(state.root, path)
    histogram = direction_histogram(np.deg2rad(np.asarray(table["rlnAngleRot"], np.float64)),
                                    np.deg2rad(np.asarray(table["rlnAngleTilt"], np.float64)), bins)
    return {"path": path, "count": len(table), "bins": bins,
            "longitude_edges": np.rad2deg(histogram.longitude_edges).tolist(),
            "latitude_edges": np.rad2deg(histogram.latitude_edges).tolist(),
            "counts": histogram.counts.astype(int).tolist(), "density": histogram.density.tolist(),
            "cell_solid_angle": histogram.cell_solid_angle}


def _angles_table(root: Path, name: str) -> Table:
    """The table of a STAR file holding rlnAngleRot and rlnAngleTilt (data_particles first)."""
    blocks = read_star(project_file(root, name))
    tables = [blocks.get("particles"), *blocks.values()]
    table = next((t for t in tables if isinstance(t, Table) and {"rlnAngleRot", "rlnAngleTilt"} <= set(t.labels)), None)
    if table is None:
        raise InputError(name, "no table with rlnAngleRot and rlnAngleTilt (refined particles)")
    return table


@router.get("/display/motion")
def motion_tracks(path: str, state: GuiState = State) -> dict[str, Any]:
    """A movie's motion file as tracks (pixels of the movie, frames in order): the global shifts,
    and at each patch centre the observed local shifts and those of the fitted local model."""
    record = read_motion_star(project_file(state.root, path))
    trace = movie_trace(path, record)
    patches = []
    if trace.patch_centres is not None:
        patches = [{"centre": centre.tolist(), "observed": observed.tolist(), "fitted": fitted.tolist()}
                   for centre, observed, fitted in zip(trace.patch_centres, trace.observed, trace.fitted)]
    return {"path": path, "size": list(trace.size), "frames": np.asarray(record.frames).tolist(),
            "shifts": np.asarray(trace.shifts).tolist(), "patches": patches,
            "fitted_model": record.local_coefficients is not None}


__all__ = ["router"]
