"""The motion-track view's data against a motion file with known tracks: the global shifts, the
observed local shifts regrouped per patch in frame order, and the fitted local model evaluated at
the patches (a model whose shifts are known in closed form); and a real RELION 5 motion file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from tests.gui.conftest import gui_client
from vitreo.io.star import Table, write_star

MOTION = "MotionCorr/job002/Movies/movie1.star"
SIZE = (400, 300)
FRAMES = np.arange(1, 6)


def write_motion(root: Path, coefficients: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """A motion file: global shifts (0.5 f, −0.25 f²), two patches with observed shifts given in
    shuffled order, and optionally the local model; returns (global shifts, observed per patch)."""
    shifts = np.stack([0.5 * (FRAMES - 1), -0.25 * (FRAMES - 1) ** 2], axis=1)
    centres = {(100.0, 75.0): 0.1, (300.0, 225.0): -0.2}
    observed = {c: np.stack([k * (FRAMES - 1), 2 * k * (FRAMES - 1)], axis=1) for c, k in centres.items()}
    rows = [(f, *c, *observed[c][i]) for c in centres for i, f in enumerate(FRAMES)]
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    blocks = {"general": {"rlnImageSizeX": SIZE[0], "rlnImageSizeY": SIZE[1], "rlnImageSizeZ": len(FRAMES),
                          "rlnMicrographStartFrame": 1, "rlnMotionModelVersion": 1},
              "global_shift": Table({"rlnMicrographFrameNumber": FRAMES, "rlnMicrographShiftX": shifts[:, 0],
                                     "rlnMicrographShiftY": shifts[:, 1]})}
    if coefficients is not None:
        blocks["local_motion_model"] = Table({"rlnMotionModelCoeffsIdx": np.arange(36), "rlnMotionModelCoeff": coefficients})
    blocks["local_shift"] = Table({label: np.asarray([r[i] for r in rows]) for i, label in enumerate(
        ("rlnMicrographFrameNumber", "rlnCoordinateX", "rlnCoordinateY", "rlnMicrographShiftX", "rlnMicrographShiftY"))})
    (root / MOTION).parent.mkdir(parents=True, exist_ok=True)
    write_star(root / MOTION, blocks)
    return shifts, observed


def test_global_and_observed_local_tracks(project: Path, client: TestClient) -> None:
    shifts, observed = write_motion(project, None)
    data = client.get("/api/display/motion", params={"path": MOTION}).json()
    assert data["size"] == list(SIZE) and data["frames"] == FRAMES.tolist() and not data["fitted_model"]
    assert np.allclose(data["shifts"], shifts)
    assert len(data["patches"]) == 2
    for patch in data["patches"]:
        assert np.allclose(patch["observed"], observed[tuple(patch["centre"])])  # regrouped, in frame order


def test_the_fitted_local_model_at_the_patches(project: Path, client: TestClient) -> None:
    # RELION's model: per axis, coefficient 3t + p − 1 multiplies z^p · term_t(x, y), terms (1, x, x², y, y², xy),
    # x = X/nx − 0.5, z = frame − 1. Here L_x = 0.3 z and L_y = 2 z x.
    coefficients = np.zeros(36)
    coefficients[0] = 0.3  # x axis, term 1, z
    coefficients[18 + 3] = 2.0  # y axis, term x, z
    write_motion(project, coefficients)
    data = client.get("/api/display/motion", params={"path": MOTION}).json()
    assert data["fitted_model"]
    z = FRAMES - 1
    for patch in data["patches"]:
        x = patch["centre"][0] / SIZE[0] - 0.5
        assert np.allclose(patch["fitted"], np.stack([0.3 * z, 2 * z * x], axis=1), atol=1e-9)


def test_a_real_motion_file(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "real"
    name = "MotionCorr/job002/Movies/20170629_00021_frameImage.star"
    (root / name).parent.mkdir(parents=True)
    (root / name).write_bytes((shared_data / "star/relion5_betagal_sppractice" / name).read_bytes())
    data = gui_client(root).get("/api/display/motion", params={"path": name}).json()
    assert data["size"] == [3710, 3838] and len(data["shifts"]) == len(data["frames"]) == 24
    assert len(data["patches"]) == 25 and data["fitted_model"]
    (root / "other.star").write_text("data_particles\nloop_\n_rlnCoordinateX\n1.0\n")
    refused = gui_client(root).get("/api/display/motion", params={"path": "other.star"})
    assert refused.status_code == 400 and "not a motion-correction file" in refused.json()["error"]
