"""CTFFIND 4.1's output files, written as CTFFIND writes them and read back as RELION reads them.

For an output root R (RELION: the job directory plus the input's path without its job
directory and extension):

- ``R.txt``: header comments (pixel size, voltage, Cs, amplitude contrast; box, resolution
  and defocus limits — CTFFIND labels the defocus limits "um" although they are Å, kept
  verbatim) and one line: micrograph number, defocus 1 and 2 (Å), azimuth of astigmatism (°),
  phase shift (rad), cross-correlation (the fit score), fit resolution (Å);
- ``R_avrot.txt``: the same header and six lines of profiles over frequency bins up to the
  spectrum's corner: frequency (1/Å), rotational average (astigmatism ignored), equi-phase
  average, CTF² of the fit, ring correlation, its 2σ noise threshold (spectra background-
  subtracted and envelope-normalised, so lines 3 and 4 are directly comparable);
- ``R_ctffind4.log``: the run's parameters and results; its "Summary of results" line names
  R.txt, which is how RELION finds the results;
- ``R.ctf``: the diagnostic image (MRC).

RELION's rlnCtfIceRingDensity is Σ|line 2| over 0.25 ≤ s < 0.28 Å⁻¹ (zero when the spectrum
does not reach the ice ring).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitreo.io.atomic import write_text_atomic
from vitreo.io.mrc import write_mrc
from vitreo.preprocess.ctf_estimation import CtfEstimate, CtfSettings

ICE_RING = (0.25, 0.28)  # 1/Å, RELION's ice-ring band
VERSION = "4.1.14 (vitreo)"


@dataclass(frozen=True)
class CtffindResult:
    """What RELION takes from CTFFIND's files for micrographs_ctf.star."""

    defocus_u: float
    defocus_v: float
    angle: float
    phase_shift: float  # degrees
    figure_of_merit: float
    max_resolution: float  # Å (inf when not determined)
    ice_ring_density: float
    voltage: float
    cs: float
    amplitude_contrast: float
    pixel_size: float


def _header(input_name: str, estimate: CtfEstimate, settings: CtfSettings) -> list[str]:
    optics = settings.optics
    return [f"# Output from CTFFind version {VERSION}, run on {time.strftime('%Y-%m-%d %H:%M:%S')}",
            f"# Input file: {input_name} ; Number of micrographs: 1",
            f"# Pixel size: {estimate.pixel_size:.3f} Angstroms ; acceleration voltage: {optics.voltage:.1f} keV ; "
            f"spherical aberration: {optics.cs:.2f} mm ; amplitude contrast: {optics.amplitude_contrast:.2f}",
            f"# Box size: {estimate.box} pixels ; min. res.: {settings.res_min:.1f} Angstroms ; max. res.: "
            f"{settings.res_max:.1f} Angstroms ; min. def.: {settings.defocus_min:.1f} um; max. def. "
            f"{settings.defocus_max:.1f} um"]


def write_ctffind_files(root: str | os.PathLike[str], input_name: str, estimate: CtfEstimate,
                        settings: CtfSettings) -> None:
    """Write R.ctf, R.txt, R_avrot.txt and (last, as the completion mark) R_ctffind4.log."""
    root = str(root)
    write_mrc(root + ".ctf", estimate.diagnostic, estimate.pixel_size)
    header = _header(input_name, estimate, settings)
    p = estimate.params
    resolution = estimate.fit_resolution
    summary = header + [
        "# Columns: #1 - micrograph number; #2 - defocus 1 [Angstroms]; #3 - defocus 2; #4 - azimuth of astigmatism; "
        "#5 - additional phase shift [radians]; #6 - cross correlation; #7 - spacing (in Angstroms) up to which CTF "
        "rings were fit successfully",
        f"1.000000 {p.defocus_u:f} {p.defocus_v:f} {p.angle:f} {math.radians(p.phase_shift):f} {estimate.score:f} "
        + (f"{resolution:f}" if math.isfinite(resolution) else "inf")]
    write_text_atomic(root + ".txt", "\n".join(summary) + "\n")
    rings = estimate.rings
    rows = [rings.frequency.cpu().numpy(), estimate.rotational, estimate.equiphase, rings.model.cpu().numpy(),
            rings.correlation.cpu().numpy(), rings.threshold.cpu().numpy()]
    avrot = header[:3] + [header[3] + "; num. frames averaged: 1",
                          "# 6 lines per micrograph: #1 - spatial frequency (1/Angstroms); #2 - 1D rotational average "
                          "of spectrum (assuming no astigmatism); #3 - 1D rotational average of spectrum; #4 - CTF fit; "
                          "#5 - cross-correlation between spectrum and CTF fit; #6 - 2sigma of expected cross "
                          "correlation of noise"]
    avrot.append(" ".join(f"{v:f}" for v in rows[0]))
    avrot.append(" ".join(f"{v:14.5f}" for v in rows[1]))
    avrot += [" ".join(f"{v:f}" for v in row) for row in rows[2:]]
    write_text_atomic(root + "_avrot.txt", "\n".join(avrot) + "\n")
    write_text_atomic(root + "_ctffind4.log", _log_text(root, input_name, estimate, settings))


def _log_text(root: str, input_name: str, estimate: CtfEstimate, settings: CtfSettings) -> str:
    p, optics = estimate.params, settings.optics
    phases = settings.phase_search
    lines = ["", "", "        **   Welcome to Ctffind   **", "",
             f"            Version : {VERSION}", "               Mode : vitreo", "",
             f"Input image file name                              : {input_name}",
             f"Output diagnostic image file name                  : {root}.ctf",
             f"Pixel size                                         : {estimate.pixel_size:g}",
             f"Acceleration voltage                               : {optics.voltage:g}",
             f"Spherical aberration                               : {optics.cs:g}",
             f"Amplitude contrast                                 : {optics.amplitude_contrast:g}",
             f"Size of amplitude spectrum to compute              : {estimate.box}",
             f"Minimum resolution                                 : {settings.res_min:g}",
             f"Maximum resolution                                 : {settings.res_max:g}",
             f"Minimum defocus                                    : {settings.defocus_min:g}",
             f"Maximum defocus                                    : {settings.defocus_max:g}",
             f"Defocus search step                                : {settings.defocus_step:g}",
             f"Slower, more exhaustive search?                    : {'yes' if settings.exhaustive else 'no'}",
             f"Use a restraint on astigmatism?                    : {'yes' if settings.astigmatism > 0 else 'no'}",
             f"Expected (tolerated) astigmatism                   : {settings.astigmatism:g}",
             f"Find additional phase shift?                       : {'yes' if phases else 'no'}"]
    if phases:
        lines += [f"Minimum, maximum and step of phase shift (deg)     : {phases[0]:g} {phases[1]:g} {phases[2]:g}"]
    lines += ["", f"Estimated defocus values        : {p.defocus_u:.2f} , {p.defocus_v:.2f} Angstroms",
              f"Estimated azimuth of astigmatism: {p.angle:.2f} degrees"]
    if phases:
        lines.append(f"Additional phase shift          : {p.phase_shift:.3f} degrees")
    lines += [f"Score                           : {estimate.score:.5f}",
              f"Pixel size for fitting          : {estimate.pixel_size:.3f} Angstroms",
              f"Thon rings with good fit up to  : {estimate.fit_resolution:.1f} Angstroms", "",
              f"Summary of results                          : {root}.txt",
              f"Diagnostic images                           : {root}.ctf",
              f"Detailed results, including 1D fit profiles : {root}_avrot.txt", ""]
    return "\n".join(lines) + "\n"


def read_ctffind_results(root: str | os.PathLike[str]) -> CtffindResult | None:
    """The results behind R_ctffind4.log, or None when there is no complete result (RELION's rule)."""
    log = Path(str(root) + "_ctffind4.log")
    try:
        summary_line = next((line for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                             if "Summary of results" in line), None)
    except OSError:
        return None
    if summary_line is None:
        return None
    return read_ctffind_summary(Path(summary_line.split()[-1]), Path(str(root) + "_avrot.txt"))


def read_ctffind_summary(summary: Path, avrot: Path) -> CtffindResult | None:
    """The results in a summary file R.txt (the ice-ring density from R_avrot.txt); None if incomplete."""
    try:
        lines = summary.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    optics_line = next((line for line in lines if "acceleration voltage:" in line), None)
    columns = next((i for i, line in enumerate(lines) if "Columns: " in line), None)
    if optics_line is None or columns is None or columns + 1 >= len(lines):
        return None
    words, values = optics_line.split(), lines[columns + 1].split()
    if len(words) < 19 or len(values) < 7:
        return None
    return CtffindResult(float(values[1]), float(values[2]), float(values[3]), math.degrees(float(values[4])),
                         float(values[5]), math.inf if values[6] == "inf" else float(values[6]),
                         _ice_ring_density(avrot), float(words[8]), float(words[13]), float(words[18]),
                         float(words[3]))


def read_avrot(avrot: Path) -> np.ndarray | None:
    """The six profiles of R_avrot.txt (6, n_bins) (see the module docstring); None if unreadable."""
    try:
        lines = [line for line in avrot.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
        rows = [np.array(line.split(), dtype=float) for line in lines[:6]]
    except (OSError, ValueError):
        return None
    if len(rows) < 6 or len({len(row) for row in rows}) != 1:
        return None
    return np.stack(rows)


def _ice_ring_density(avrot: Path) -> float:
    """Σ|rotational average| over the ice-ring band, from lines 1 and 2 of R_avrot.txt's profiles (RELION's reading)."""
    profiles = read_avrot(avrot)
    if profiles is None:
        return 0.0
    band = (profiles[0] >= ICE_RING[0]) & (profiles[0] <= ICE_RING[1])
    return float(np.abs(profiles[1][band]).sum())


__all__ = ["CtffindResult", "write_ctffind_files", "read_ctffind_results", "read_ctffind_summary", "read_avrot",
           "ICE_RING"]
