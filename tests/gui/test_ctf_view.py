"""The CTF fit view against a spectrum with known CTF parameters: the parameters and profiles it
reports, and its half-and-half image (spectrum | fitted CTF²) against the true CTF²; and on a
real CTFFIND 4.1 result."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from tests.gui.conftest import gui_client, png
from tests.preprocess.datasets import synthetic_spectrum
from vitreo.gui.ctf_fit import ctf_fit_files, fitted_ctf_squared, read_fit
from vitreo.preprocess.ctf_estimation import CtfEstimate, CtfSettings, estimate_ctf
from vitreo.preprocess.ctf_model import CtfFitParams, Optics, ctf_squared, fit_params
from vitreo.preprocess.ctffind_files import write_ctffind_files

OPTICS = Optics(300.0, 2.7, 0.1)
TRUTH = CtfFitParams(15000.0, 14000.0, 30.0)
BOX, PIXEL = 256, 1.5
CTF = "CtfFind/job001/Movies/mic_PS.ctf"
BAND = (1 / 30, 1 / 4)  # 1/Å: the fitted band


@pytest.fixture
def fitted(project: Path) -> CtfEstimate:
    return write_fit(project)


def write_fit(project: Path, name: str = CTF) -> CtfEstimate:
    """CTFFIND's files (diagnostic image ``name``) for a spectrum with CTF TRUTH, fitted by vitreo, in the project."""
    settings = CtfSettings(OPTICS, res_min=1 / BAND[0], res_max=1 / BAND[1], astigmatism=0.0)
    estimate = estimate_ctf(synthetic_spectrum(TRUTH, OPTICS, box=BOX, pixel=PIXEL), PIXEL, settings)
    root = project / name.removesuffix(".ctf")
    root.parent.mkdir(parents=True, exist_ok=True)
    write_ctffind_files(root, "MotionCorr/job001/Movies/mic_PS.mrc", estimate, settings)
    return estimate


def true_ctf_squared(params: CtfFitParams, fit) -> np.ndarray:
    return fitted_ctf_squared(BOX, dataclasses.replace(fit, defocus_u=params.defocus_u, defocus_v=params.defocus_v,
                                                       angle=params.angle))


def test_parameters_and_profiles_of_a_fit(project: Path, client: TestClient, fitted: CtfEstimate) -> None:
    assert client.get("/api/display/kind", params={"path": CTF}).json()["kind"] == "ctf"
    data = client.get("/api/display/ctf", params={"path": CTF + ":mrc"}).json()  # as rlnCtfImage names it
    fit = data["fit"]
    p = fitted.params
    assert (fit["defocus_u"], fit["defocus_v"], fit["angle"]) == pytest.approx((p.defocus_u, p.defocus_v, p.angle), abs=1e-3)
    assert abs(fit["defocus_u"] - TRUTH.defocus_u) < 30 and abs(fit["angle"] - TRUTH.angle) < 2
    assert fit["pixel_size"] == pytest.approx(PIXEL) and fit["voltage"] == 300.0
    profiles = {name: np.asarray(values) for name, values in data["profiles"].items()}
    assert len({len(v) for v in profiles.values()}) == 1
    frequency = profiles["frequency"]
    assert np.diff(frequency) == pytest.approx(1 / (BOX * PIXEL), abs=1e-5)
    band = (frequency > BAND[0]) & (frequency < BAND[1])
    mean = ctf_squared(fit_params(TRUTH, OPTICS), torch.from_numpy(frequency**2))[0].numpy()  # rotational average of the truth
    assert np.corrcoef(profiles["ctf_fit"][band], mean[band])[0, 1] > 0.99
    assert np.corrcoef(profiles["equiphase_average"][band], mean[band])[0, 1] > 0.9  # the data's Thon rings


def test_the_spectrum_and_the_fit_meet_at_the_centre_line(project: Path, client: TestClient,
                                                           fitted: CtfEstimate) -> None:
    image = png(client.get("/api/display/ctf/fit.png", params={"path": CTF})) / 255
    assert image.shape == (BOX, BOX)
    k = np.arange(BOX) - BOX // 2
    radius = np.hypot(k[:, None], k[None, :]) / (BOX * PIXEL)
    band = (radius > BAND[0]) & (radius < BAND[1])
    left = np.zeros((BOX, BOX), bool)
    left[:, : BOX // 2] = True
    fit = read_fit(ctf_fit_files(project, CTF))

    def correlation(params: CtfFitParams, half: np.ndarray) -> float:
        return float(np.corrcoef(image[band & half], true_ctf_squared(params, fit)[band & half])[0, 1])

    assert correlation(TRUTH, ~left) > 0.99  # the fit drawn on the right
    assert correlation(TRUTH, left) > 0.7  # the data on the left, in place and orientation
    mirrored = dataclasses.replace(TRUTH, angle=-TRUTH.angle)
    assert correlation(mirrored, left) < 0.3  # the test can tell a flipped axis
    assert client.get("/api/display/ctf", params={"path": "CtfFind/job001/Movies/none.ctf"}).status_code == 404
    assert client.get("/api/display/ctf", params={"path": "default_pipeline.star"}).status_code == 400


def test_a_real_ctffind_result_is_shown(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "betagal"
    name = "CtfFind/job005/Movies/20170629_00021_frameImage_PS"
    for tree in ("star", "images"):
        shutil.copytree(shared_data / tree / "relion5_betagal_sppractice" / "CtfFind", root / "CtfFind", dirs_exist_ok=True)
    client: TestClient = gui_client(root)
    assert client.get("/api/display/kind", params={"path": name + ".ctf"}).json()["kind"] == "ctf"
    data = client.get("/api/display/ctf", params={"path": name + ".ctf"}).json()
    assert data["fit"]["defocus_u"] == pytest.approx(37034.929688) and data["fit"]["max_resolution"] == pytest.approx(9.554261)
    assert data["fit"]["pixel_size"] == pytest.approx(1.4) and len(data["profiles"]["ctf_fit"]) == len(data["profiles"]["frequency"])
    image = png(client.get("/api/display/ctf/fit.png", params={"path": name + ".ctf", "scale": 0.5}))
    assert image.shape == (256, 256) and image[:, :128].std() > 20


def test_a_real_spectrum_and_its_fit_meet(shared_data: Path, tmp_path: Path) -> None:
    """RELION's power spectrum of a tutorial movie, fitted by vitreo: in the view, the data's Thon rings
    (30–8 Å) match the CTF² of the fit drawn beside them; a fit 10% off in defocus does not."""
    from vitreo.io.mrc import read_mrc

    image, pixel = read_mrc(shared_data / "images/relion5_betagal_sppractice/MotionCorr/job002/Movies/"
                                          "20170629_00021_frameImage_PS.mrc")
    settings = CtfSettings(Optics(200.0, 1.4, 0.1), res_min=30.0, res_max=5.0)
    estimate = estimate_ctf(torch.as_tensor(image), pixel, settings)
    (tmp_path / "CtfFind/job001").mkdir(parents=True)
    write_ctffind_files(tmp_path / "CtfFind/job001/ps", "ps.mrc", estimate, settings)
    shown = png(gui_client(tmp_path).get("/api/display/ctf/fit.png", params={"path": "CtfFind/job001/ps.ctf"})) / 255
    n = shown.shape[0]
    k = np.arange(n) - n // 2
    radius = np.hypot(k[:, None], k[None, :]) / (n * pixel)
    band = (radius > 1 / 30) & (radius < 1 / 8)
    band[:, n // 2:] = False  # the data's half
    fit = read_fit(ctf_fit_files(tmp_path, "CtfFind/job001/ps.ctf"))
    assert np.corrcoef(shown[band], fitted_ctf_squared(n, fit)[band])[0, 1] > 0.3  # measured: 0.36
    wrong = dataclasses.replace(fit, defocus_u=1.1 * fit.defocus_u, defocus_v=1.1 * fit.defocus_v)
    assert np.corrcoef(shown[band], fitted_ctf_squared(n, wrong)[band])[0, 1] < 0.15  # measured: 0.05
