"""RELION's own files read as RELION reads them: per-movie motion STAR files (accumulated motion) and
CTFFIND 4.1 results (defocus, score, fit resolution, ice-ring density); and our files read back."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from vitreo.preprocess.ctf_estimation import CtfSettings, estimate_ctf
from vitreo.preprocess.ctf_model import CtfFitParams, Optics
from vitreo.preprocess.ctffind_files import read_ctffind_results, write_ctffind_files
from vitreo.preprocess.motion_files import accumulated_motion, read_motion_star
from tests.preprocess.datasets import synthetic_spectrum

PROJECT = "star/relion5_betagal_sppractice"
MOVIE = "MotionCorr/job002/Movies/20170629_00021_frameImage.star"
CTF_ROOT = "CtfFind/job005/Movies/20170629_00021_frameImage_PS"


def test_accumulated_motion_matches_relions_corrected_micrographs(shared_data: Path) -> None:
    record = read_motion_star(shared_data / PROJECT / MOVIE)
    assert record.size == (3710, 3838) and record.local_coefficients is not None
    total, early, late = accumulated_motion(record)
    assert (total, early, late) == pytest.approx((16.420846, 2.503429, 13.917417), abs=2e-5)


def test_ctffind_results_are_read_as_relion_reads_them(shared_data: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    source = shared_data / PROJECT / CTF_ROOT
    target = tmp_path / CTF_ROOT
    target.parent.mkdir(parents=True)
    for suffix in (".txt", "_avrot.txt", "_ctffind4.log"):
        shutil.copy(str(source) + suffix, str(target) + suffix)
    monkeypatch.chdir(tmp_path)  # the log names the results file relative to the project
    result = read_ctffind_results(CTF_ROOT)
    assert result is not None
    assert (result.defocus_u, result.defocus_v, result.angle) == pytest.approx((37034.929688, 35846.542969, -14.849661))
    assert result.figure_of_merit == pytest.approx(0.017465) and result.max_resolution == pytest.approx(9.554261)
    assert result.ice_ring_density == pytest.approx(1.484760, abs=1e-5)  # micrographs_ctf.star's value
    assert result.pixel_size == pytest.approx(1.4) and result.voltage == 200.0


def test_our_ctffind_files_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = CtfSettings(Optics(300.0, 2.7, 0.1), res_min=30.0, res_max=4.0, phase_search=(0.0, 90.0, 10.0))
    estimate = estimate_ctf(synthetic_spectrum(CtfFitParams(12000.0, 11500.0, 20.0, 30.0), settings.optics), 1.5, settings)
    Path("CtfFind/job003/M").mkdir(parents=True)
    write_ctffind_files("CtfFind/job003/M/a_PS", "MotionCorr/job002/M/a_PS.mrc", estimate, settings)
    result = read_ctffind_results("CtfFind/job003/M/a_PS")
    assert result is not None
    p = estimate.params
    assert (result.defocus_u, result.defocus_v, result.angle) == pytest.approx((p.defocus_u, p.defocus_v, p.angle),
                                                                               abs=1e-3)
    assert result.phase_shift == pytest.approx(p.phase_shift, abs=1e-3)
    assert result.max_resolution == pytest.approx(estimate.fit_resolution, rel=1e-5)
    assert result.ice_ring_density > 0  # 1.5 Å pixels reach the ice ring (0.25–0.28 Å⁻¹)
    avrot = Path("CtfFind/job003/M/a_PS_avrot.txt").read_text().splitlines()
    assert len(avrot) == 11 and len(avrot[5].split()) == int(256 / 2 * math.sqrt(2)) + 1
    assert Path("CtfFind/job003/M/a_PS.ctf").stat().st_size > 256 * 256 * 4
    assert read_ctffind_results("CtfFind/job003/M/missing") is None
    assert np.isfinite(estimate.score)


def _quadrant_roughness(image: np.ndarray) -> dict[str, float]:
    """Mean |difference| of horizontal neighbours in each quadrant (first/last rows × first/last columns)
    between 0.2 and 0.5 of the half-box from the centre (within the fitted band of both files), relative
    to that of the last rows: the overlaid rings are smooth, the spectrum is not."""
    n = image.shape[0] // 2
    k = np.arange(2 * n) - n
    radius = np.hypot(k[:, None], k[None, :])[:, 1:]
    step = np.abs(np.diff(image, axis=1))
    ring = (radius > 0.2 * n) & (radius < 0.5 * n)
    rough = {}
    for r, rows in (("first", slice(0, n)), ("last", slice(n, None))):
        for c, cols in (("_left", slice(0, n - 1)), ("_right", slice(n, None))):
            rough[r + c] = float(step[rows, cols][ring[rows, cols]].mean())
    base = 0.5 * (rough["last_left"] + rough["last_right"])
    return {key: value / base for key, value in rough.items()}


def test_our_diagnostic_image_has_ctffinds_layout(shared_data: Path, tmp_path: Path) -> None:
    from vitreo.io.mrc import read_mrc

    real, _ = read_mrc(shared_data / "images/relion5_betagal_sppractice" / (CTF_ROOT + ".ctf"))
    settings = CtfSettings(Optics(300.0, 2.7, 0.1), res_min=30.0, res_max=4.0)
    spectrum = synthetic_spectrum(CtfFitParams(12000.0, 11500.0, 20.0), settings.optics, noise=0.5)  # as noisy as real ones
    estimate = estimate_ctf(spectrum, 1.5, settings)
    write_ctffind_files(tmp_path / "a_PS", "a_PS.mrc", estimate, settings)
    ours, _ = read_mrc(tmp_path / "a_PS.ctf")
    for image in (np.asarray(real).reshape(real.shape[-2:]), ours):
        rough = _quadrant_roughness(image)
        assert rough["first_right"] < 0.35, rough  # the equi-phase rings: first rows, last columns
        assert max(rough["last_left"], rough["last_right"]) < 1.2, rough  # the plain spectrum: last rows
