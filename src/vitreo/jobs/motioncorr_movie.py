"""One movie of a MotionCorr job: correct it and write its files, as RELION's own implementation does.

For a movie ``Movies/x.tiff`` in job ``MotionCorr/job002/`` the outputs are
``MotionCorr/job002/Movies/x.mrc`` (the dose-weighted sum, or the plain sum without dose
weighting), ``x_noDW.mrc`` (plain sum, when asked), ``x_PS.mrc`` (power spectrum for CTF
estimation), ``x.star`` (motion model), ``x.log``, and ``x_movie.mrcs`` (aligned frames, with
``--save_movies`` in the additional arguments). The micrograph is written last: its
existence marks the movie as done (RELION's continue rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from vitreo.io.atomic import write_text_atomic
from vitreo.io.mrc import write_mrc
from vitreo.preprocess.motion_correction import MotionResult, MotionSettings, correct_movie
from vitreo.preprocess.motion_files import MovieNames, log_text, write_motion_star
from vitreo.preprocess.movie_frames import DetectorCorrection

MOVIE_TAG = "_movie"  # RELION's --movie root name, removed from output names


def output_root(job_dir: str, movie: str) -> str:
    """RELION's output name without extension: ``job_dir`` + the movie's path without extension and
    ``_movie``, dots replaced by underscores (leading ``/`` and ``..`` parts are dropped)."""
    parts = [p for p in PurePosixPath(movie).with_suffix("").parts if p not in ("/", "..", ".")]
    stem = "/".join(parts).replace(MOVIE_TAG, "", 1).replace(".", "_")
    return str(PurePosixPath(job_dir) / stem)


@dataclass(frozen=True)
class MovieTask:
    """Everything a worker needs to correct one movie (picklable)."""

    movie: str
    root: str
    settings: MotionSettings
    correction: DetectorCorrection
    names: MovieNames
    float16: bool
    device: str
    threads: int


@dataclass(frozen=True)
class MovieOutcome:
    """What the job reports about a corrected movie."""

    movie: str
    micrograph: str
    n_hot_pixels: int
    local_model: bool
    drift_px: float


def process_movie(task: MovieTask) -> MovieOutcome:
    """Correct ``task.movie`` and write its outputs (see the module docstring)."""
    result = correct_movie(task.movie, task.settings, task.correction, torch.device(task.device))
    root = task.root
    Path(root).parent.mkdir(parents=True, exist_ok=True)
    pixel = result.output_pixel_size
    dtype = np.float16 if task.float16 else np.float32
    lines = [log_text(result, task.movie, task.threads)]
    if result.power_spectrum is not None:
        write_mrc(root + "_PS.mrc", result.power_spectrum, result.ps_pixel_size)
        lines.append(f"Written the power spectrum for CTF estimation: {root}_PS.mrc")
    if result.aligned_movie is not None:
        write_mrc(root + MOVIE_TAG + ".mrcs", result.aligned_movie, pixel, is_stack=True, dtype=dtype)
        lines.append(f"Written the aligned movie to {root}{MOVIE_TAG}.mrcs")
    if result.no_dw is not None:
        write_mrc(root + "_noDW.mrc", result.no_dw, pixel, dtype=dtype)
        lines.append(f"Written aligned but non-dose weighted sum to {root}_noDW.mrc")
    write_motion_star(root + ".star", result, task.names)
    weighted = "dose-weighted" if task.settings.dose_weighting else "non-dose weighted"
    lines.append(f"Written aligned and {weighted} sum to {root}.mrc")
    write_text_atomic(root + ".log", "\n".join(lines) + "\n")
    write_mrc(root + ".mrc", result.micrograph, pixel, dtype=dtype)
    return MovieOutcome(task.movie, root + ".mrc", len(result.frames.hot_pixels), result.local is not None,
                        _path_length(result))


def _path_length(result: MotionResult) -> float:
    return float(np.linalg.norm(np.diff(result.global_shifts, axis=0), axis=1).sum())


def save_movies_requested(other_args: str) -> bool:
    """True when RELION's ``--save_movies`` flag is among the additional arguments."""
    return re.search(r"(^|\s)--save_movies(\s|$)", other_args) is not None


__all__ = ["MovieTask", "MovieOutcome", "process_movie", "output_root", "save_movies_requested", "MOVIE_TAG"]
