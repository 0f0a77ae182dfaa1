"""RELION's per-movie motion-correction files: the ``.star`` motion model, the ``.log``, and
the accumulated-motion statistics of corrected_micrographs.star.

The STAR file (RELION ``Micrograph::write``) holds ``data_general`` (movie size, names,
binning, original pixel size, dose rate, pre-exposure, voltage, start frame, motion model
version), ``data_global_shift`` (frame number, shift x, y in movie pixels, RELION's sign),
``data_local_motion_model`` (the 36 polynomial coefficients) when local motion is
modelled, ``data_hot_pixels`` (detected hot pixels, x y) and ``data_local_shift`` (the patch
observations behind the model: frame, patch centre x y, local shift x y).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star
from vitreo.preprocess.motion_correction import MotionResult
from vitreo.em.motion_polynomial import MODEL_VERSION

MOTION_STATS_DOSE = 4.0  # e/Å²: RELION's --dose_motionstats_cutoff between "early" and "late" motion
STAR_VERSION = 50001


@dataclass(frozen=True)
class MovieNames:
    """Paths (relative to the project) recorded in the motion file."""

    movie: str
    gain: str | None = None
    defect: str | None = None


def motion_blocks(result: MotionResult, names: MovieNames) -> dict[str, Any]:
    """The STAR blocks of a movie's motion file."""
    settings, frames = result.settings, result.frames
    ny, nx = frames.shape
    general: dict[str, Any] = {"rlnImageSizeX": nx, "rlnImageSizeY": ny, "rlnImageSizeZ": frames.n_movie_frames,
                               "rlnMicrographMovieName": names.movie}
    if names.gain:
        general["rlnMicrographGainName"] = names.gain
    if names.defect:
        general["rlnMicrographDefectFile"] = names.defect
    general.update(rlnMicrographBinning=float(settings.bin_factor),
                   rlnMicrographOriginalPixelSize=settings.pixel_size,
                   rlnMicrographDoseRate=settings.dose_per_frame,
                   rlnMicrographPreExposure=settings.pre_exposure,
                   rlnVoltage=settings.voltage,
                   rlnMicrographStartFrame=int(frames.indices[0]) + 1,
                   rlnMotionModelVersion=MODEL_VERSION if result.local is not None else 0)
    blocks: dict[str, Any] = {
        "general": general,
        "global_shift": Table({"rlnMicrographFrameNumber": frames.indices + 1,
                               "rlnMicrographShiftX": result.global_shifts[:, 0],
                               "rlnMicrographShiftY": result.global_shifts[:, 1]}),
    }
    if result.local is not None:
        coefficients = result.local.model.coefficients
        blocks["local_motion_model"] = Table({"rlnMotionModelCoeffsIdx": np.arange(coefficients.size),
                                              "rlnMotionModelCoeff": coefficients})
    if len(frames.hot_pixels):
        blocks["hot_pixels"] = Table({"rlnCoordinateX": frames.hot_pixels[:, 0].astype(float),
                                      "rlnCoordinateY": frames.hot_pixels[:, 1].astype(float)})
    obs = result.observations
    if obs is not None:
        blocks["local_shift"] = Table({"rlnMicrographFrameNumber": np.rint(obs.z).astype(np.int64) + frames.indices[0] + 1,
                                       "rlnCoordinateX": obs.x.astype(float), "rlnCoordinateY": obs.y.astype(float),
                                       "rlnMicrographShiftX": obs.observed[:, 0],
                                       "rlnMicrographShiftY": obs.observed[:, 1]})
    return blocks


def write_motion_star(path: str | os.PathLike[str], result: MotionResult, names: MovieNames) -> None:
    """Write the movie's motion file (atomically)."""
    write_star(path, motion_blocks(result, names), version=STAR_VERSION)


@dataclass(frozen=True)
class MotionRecord:
    """What later steps read back from a motion file: global shifts (F, 2) px with their 1-based
    frame numbers, dose per frame and pre-exposure (e/Å²), the movie size (nx, ny), the first
    frame of the local model, the local coefficients (or None) and the patch observations."""

    frames: np.ndarray
    shifts: np.ndarray
    dose_per_frame: float
    pre_exposure: float
    size: tuple[int, int]
    start_frame: int
    local_coefficients: np.ndarray | None
    patch_observations: Table | None


def read_motion_star(path: str | os.PathLike[str]) -> MotionRecord:
    """Read a RELION per-movie motion file; InputError when it lacks the global shifts."""
    blocks = read_star(path)
    general, shifts = blocks.get("general"), blocks.get("global_shift")
    if not isinstance(general, dict) or not isinstance(shifts, Table):
        raise InputError(path, "not a motion-correction file (needs data_general and data_global_shift)")
    local = blocks.get("local_motion_model")
    observations = blocks.get("local_shift")
    return MotionRecord(
        frames=np.asarray(shifts["rlnMicrographFrameNumber"]),
        shifts=np.stack([shifts["rlnMicrographShiftX"], shifts["rlnMicrographShiftY"]], axis=1),
        dose_per_frame=float(general.get("rlnMicrographDoseRate", 0.0)),
        pre_exposure=float(general.get("rlnMicrographPreExposure", 0.0)),
        size=(int(general.get("rlnImageSizeX", 0)), int(general.get("rlnImageSizeY", 0))),
        start_frame=int(general.get("rlnMicrographStartFrame", 1)),
        local_coefficients=np.asarray(local["rlnMotionModelCoeff"]) if isinstance(local, Table) else None,
        patch_observations=observations if isinstance(observations, Table) else None,
    )


def accumulated_motion(record: MotionRecord, cutoff_dose: float = MOTION_STATS_DOSE) -> tuple[float, float, float]:
    """(total, early, late) path length of the global shifts, as RELION computes rlnAccumMotion*.

    RELION sums the frame-to-frame steps in movie pixels (its label descriptions say Å, but the
    numbers it writes are pixels); a step into frame f (1-based, f ≥ 2) counts as early when
    f ≤ (cutoff − pre-exposure) / dose per frame.
    """
    steps = np.linalg.norm(np.diff(record.shifts, axis=0), axis=1)
    into = record.frames[1:]
    if record.dose_per_frame > 0:
        early = into <= (cutoff_dose - record.pre_exposure) / record.dose_per_frame
    else:
        early = np.zeros(len(into), dtype=bool)
    return float(steps.sum()), float(steps[early].sum()), float(steps[~early].sum())


def log_text(result: MotionResult, movie: str, threads: int) -> str:
    """The movie's log, in the form of RELION's own motion correction log."""
    settings, frames, groups = result.settings, result.frames, result.groups
    ny, nx = frames.shape
    lines = [f"Working on {movie} with {threads} thread(s).", "",
             f"Movie size: X = {nx} Y = {ny} N = {frames.n_movie_frames}",
             "Frames to be used: " + " ".join(str(i + 1) for i in frames.indices),
             f"Frame grouping: n_frames = {len(frames.indices)}, requested group size = {settings.group_frames}",
             " | " + " ".join(" ".join(str(frames.indices[0] + 1 + f) for f in range(s, s + n)) + " |"
                              for s, n in zip(groups.starts, groups.sizes)), ""]
    threshold = frames.sum_mean + 6 * frames.sum_sd
    lines += [f"In unaligned sum, Mean = {frames.sum_mean:g} Std = {frames.sum_sd:g} Hotpixel threshold = {threshold:g}",
              f"Detected {len(frames.hot_pixels)} hot pixels to be corrected."]
    if frames.n_defects:
        lines.append(f"Filled {frames.n_defects} defect pixels (defect file and gain zeros).")
    if result.power_spectrum is not None:
        lines.append(f"The pixel size for CTF estimation: {result.ps_pixel_size:g}")
    lines += ["", "Global alignment:"]
    lines += [f" Iteration {i}: RMSD = {rmsd:g} px" for i, rmsd in enumerate(result.global_rmsd, start=1)]
    lines += ["", "Local alignments:", f"Patches: X = {settings.patches[0]} Y = {settings.patches[1]}"]
    grid = result.patch_grid
    if grid is None:
        lines.append("Too few patches to do local alignments. Local alignment is skipped.")
    else:
        cx, cy = grid.centres(result.patch_scale)
        for index, (x0, x1, y0, y1) in enumerate(grid.ranges(result.patch_scale)):
            lines.append(f"Patch ({index // len(grid.starts_x) + 1}, {index % len(grid.starts_x) + 1}): "
                         f"{index + 1} / {grid.n_patches}, X range = [{x0}, {x1}), Y range = [{y0}, {y1}), "
                         f"Center = ({cx[index]}, {cy[index]})")
        lines += [f" Iteration {i}: RMSD = {rmsd:g} px (mean over patches)" for i, rmsd in enumerate(result.patch_rmsd, 1)]
        fit = result.fit
        if fit is not None:
            lines += ["", f"Polynomial fit RMSD: X = {fit.rms[0]:g} px Y = {fit.rms[1]:g} px",
                      f"Local motion model: F = {fit.f_statistic:.3g}, p = {fit.p_value:.3g}, "
                      f"coefficients shrunk by {fit.shrinkage:.3g}"]
        if result.local_rejected:
            lines += ["The polynomial motion model did not explain the observations beyond noise.",
                      "Local correction is disabled for this micrograph."]
    lines.append(f"Pre-exposure: = {settings.pre_exposure:g}")
    return "\n".join(lines) + "\n"


__all__ = ["MovieNames", "MotionRecord", "motion_blocks", "write_motion_star", "read_motion_star",
           "accumulated_motion", "log_text", "MOTION_STATS_DOSE"]
