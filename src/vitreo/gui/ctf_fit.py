"""The CTF fit of one micrograph, from the files CTFFIND 4.1 (and vitreo's CtfFind) writes for
an output root R: the diagnostic image R.ctf, the summary R.txt and the 1D profiles R_avrot.txt.

The view shows the fitted parameters, the profiles against spatial frequency (the equi-phase
average of the spectrum against the fitted CTF², and their ring correlation against its 2σ
noise threshold) and one 2D image: the spectrum in the left half and the CTF² of the fitted
parameters in the right half, so the Thon rings of the fit continue those of the data across the
centre line. The spectrum comes from the rows N//2.. of R.ctf, where CTFFIND keeps the plain
spectrum (its first rows carry the fit overlays), and fills the other rows by the spectrum's
centro-symmetry: S(−k) = S(k), i.e. row i ↔ N − i and column j ↔ (N − j) mod N about (N//2, N//2).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vitreo.gui.paths import project_file
from vitreo.io.errors import InputError
from vitreo.io.mrc import open_stack
from vitreo.preprocess.ctf_model import CtfFitParams, Optics, ctf_squared, fit_params
from vitreo.preprocess.ctffind_files import CtffindResult, read_avrot, read_ctffind_summary

CONTRAST_RING = (0.1, 0.6)  # fractions of the Nyquist radius
PROFILE_NAMES = ("frequency", "rotational_average", "equiphase_average", "ctf_fit", "correlation", "threshold")


@dataclass(frozen=True)
class CtfFitFiles:
    """The project-relative name of a diagnostic image R.ctf and the paths of its three files."""

    name: str
    diagnostic: Path
    summary: Path
    profiles: Path


def ctf_fit_files(root: Path, name: str) -> CtfFitFiles:
    """The files of the CTF fit whose diagnostic image is ``name`` (R.ctf, ``:mrc`` allowed)."""
    name = name.removesuffix(":mrc")
    diagnostic = project_file(root, name)
    if not name.endswith(".ctf"):
        raise InputError(name, "a CTF fit is shown from its diagnostic image (a .ctf file)")
    stem = name[: -len(".ctf")]
    files = CtfFitFiles(name, diagnostic, project_file(root, stem + ".txt"), project_file(root, stem + "_avrot.txt"))
    for path in (files.diagnostic, files.summary, files.profiles):
        if not path.is_file():
            raise FileNotFoundError(2, "no such file (CTFFIND writes R.ctf, R.txt and R_avrot.txt)", str(path))
    return files


def has_ctf_fit(root: Path, name: str) -> bool:
    """Whether ``name`` is a diagnostic image with its summary and profiles beside it."""
    try:
        ctf_fit_files(root, name)
    except (InputError, FileNotFoundError):
        return False
    return True


def read_fit(files: CtfFitFiles) -> CtffindResult:
    """The fitted parameters in R.txt; InputError when it cannot be read."""
    result = read_ctffind_summary(files.summary, files.profiles)
    if result is None:
        raise InputError(files.summary, "not a CTFFIND summary (no optics line or no results line)")
    return result


def fit_json(files: CtfFitFiles) -> dict[str, Any]:
    """The fitted parameters and the six 1D profiles (frequency in 1/Å) as JSON."""
    result = read_fit(files)
    profiles = read_avrot(files.profiles)
    if profiles is None:
        raise InputError(files.profiles, "not CTFFIND profiles (six lines of numbers of equal length)")
    fit = {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
           for key, value in dataclasses.asdict(result).items()}
    return {"path": files.name, "fit": fit, "profiles": {name: row.tolist() for name, row in zip(PROFILE_NAMES, profiles)}}


def spectrum_from_diagnostic(diagnostic: np.ndarray) -> np.ndarray:
    """The whole spectrum (N, N) from the plain rows N//2.. of a diagnostic image (see the module docstring)."""
    n = diagnostic.shape[-1]
    if diagnostic.shape != (n, n) or n % 2:
        raise ValueError(f"a diagnostic image is square with an even size, not {diagnostic.shape}")
    spectrum = diagnostic.astype(np.float64)
    rows = np.arange(1, n // 2)
    columns = (n - np.arange(n)) % n
    spectrum[rows] = spectrum[n - rows][:, columns]
    spectrum[0] = spectrum[1]  # the Nyquist row has no partner
    return spectrum


def fitted_ctf_squared(box: int, result: CtffindResult) -> np.ndarray:
    """CTF² (N, N) of the fitted parameters on the centred spectrum grid (origin at N//2, rows along ky)."""
    k = torch.arange(box, dtype=torch.float64) - box // 2
    ky, kx = k[:, None].expand(box, box), k[None, :].expand(box, box)
    s2 = ((kx**2 + ky**2) / (box * result.pixel_size) ** 2).reshape(-1)
    params = fit_params(CtfFitParams(result.defocus_u, result.defocus_v, result.angle, result.phase_shift),
                        Optics(result.voltage, result.cs, result.amplitude_contrast))
    return ctf_squared(params, s2, torch.atan2(ky, kx).reshape(-1))[0].reshape(box, box).numpy()


def half_and_half(files: CtfFitFiles) -> np.ndarray:
    """The spectrum (columns < N//2) beside the fitted CTF² (columns ≥ N//2), each scaled to [0, 1];
    the spectrum's contrast is set by its 2nd and 98th percentiles between CONTRAST_RING of Nyquist,
    where Thon rings are fitted (the spectrum is rarely background-corrected beyond)."""
    with open_stack(files.diagnostic) as stack:
        diagnostic = stack[0].astype(np.float32)
    spectrum = spectrum_from_diagnostic(diagnostic)
    n = spectrum.shape[0]
    k = np.arange(n) - n // 2
    radius = np.hypot(k[:, None], k[None, :]) / (n // 2)
    ring = (radius >= CONTRAST_RING[0]) & (radius <= CONTRAST_RING[1])
    low, high = np.percentile(spectrum[ring], [2, 98])
    image = np.clip((spectrum - low) / (high - low), 0, 1) if high > low else np.zeros_like(spectrum)
    half = spectrum.shape[1] // 2
    image[:, half:] = fitted_ctf_squared(spectrum.shape[1], read_fit(files))[:, half:]
    return image.astype(np.float32)


__all__ = ["PROFILE_NAMES", "CtfFitFiles", "ctf_fit_files", "has_ctf_fit", "read_fit", "fit_json",
           "spectrum_from_diagnostic", "fitted_ctf_squared", "half_and_half"]
