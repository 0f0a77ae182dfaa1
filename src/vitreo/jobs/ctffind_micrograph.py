"""One micrograph of a CtfFind job: estimate its CTF and write CTFFIND's files.

The image fitted is RELION's choice: the power spectrum from motion correction
(rlnCtfPowerSpectrum, ``use_given_ps``), else the non-dose-weighted micrograph
(rlnMicrographNameNoDW, ``use_noDW``), else the micrograph. Outputs go to the job directory
under the image's path without its job directory (``MotionCorr/job002/Movies/x_PS.mrc`` →
``CtfFind/job005/Movies/x_PS``) with CTFFIND's suffixes (``ctffind_files``); the log comes
last and marks the micrograph as done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch

from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc
from vitreo.preprocess.ctf_estimation import CtfSettings, estimate_ctf, micrograph_spectrum
from vitreo.preprocess.ctffind_files import write_ctffind_files

_JOB_DIR = re.compile(r"job\d+")


def output_root(job_dir: str, image: str) -> str:
    """``job_dir`` + the image path without extension and without its leading ``Type/jobNNN/``."""
    parts = [p for p in PurePosixPath(image).with_suffix("").parts if p not in ("/", "..", ".")]
    if len(parts) > 2 and _JOB_DIR.fullmatch(parts[1]):
        parts = parts[2:]
    return str(PurePosixPath(job_dir).joinpath(*parts))


@dataclass(frozen=True)
class MicrographTask:
    """Everything a worker needs for one micrograph (picklable): the image to fit and whether it is a
    power spectrum, the micrograph's pixel size (Å), the output root and the search settings."""

    image: str
    is_spectrum: bool
    pixel_size: float
    root: str
    settings: CtfSettings


@dataclass(frozen=True)
class MicrographOutcome:
    image: str
    defocus_u: float
    defocus_v: float
    fit_resolution: float


def process_micrograph(task: MicrographTask) -> MicrographOutcome:
    """Fit the CTF of one micrograph and write R.ctf, R.txt, R_avrot.txt and R_ctffind4.log."""
    data, header_pixel = read_mrc(task.image)
    if data.ndim != 2:
        raise InputError(task.image, f"expected a single image, found shape {data.shape}")
    if task.is_spectrum:
        if data.shape[0] != data.shape[1]:
            raise InputError(task.image, f"a power spectrum must be square, not {data.shape[1]}x{data.shape[0]}")
        pixel = header_pixel if header_pixel > 0 else task.pixel_size
        spectrum = torch.as_tensor(data, dtype=torch.float64)
    else:
        pixel = task.pixel_size
        spectrum = micrograph_spectrum(data, task.settings.box, task.settings.window)
    estimate = estimate_ctf(spectrum, pixel, task.settings)
    Path(task.root).parent.mkdir(parents=True, exist_ok=True)
    write_ctffind_files(task.root, task.image, estimate, task.settings)
    p = estimate.params
    return MicrographOutcome(task.image, p.defocus_u, p.defocus_v, estimate.fit_resolution)


__all__ = ["MicrographTask", "MicrographOutcome", "process_micrograph", "output_root"]
