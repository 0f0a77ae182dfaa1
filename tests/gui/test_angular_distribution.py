"""The angular distribution view's histogram against known directions: one direction lands in
its cell, directions uniform on the sphere give a flat density (equal-area cells)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vitreo.io.star import Table, write_star


def write_angles(root: Path, rot: np.ndarray, tilt: np.ndarray) -> str:
    n = len(rot)
    write_star(root / "Refine3D/job001/run_data.star", {"particles": Table({
        "rlnImageName": [f"{i + 1:06d}@p.mrcs" for i in range(n)], "rlnAngleRot": rot, "rlnAngleTilt": tilt,
        "rlnAnglePsi": np.zeros(n)})})
    return "Refine3D/job001/run_data.star"


def test_one_direction_fills_its_cell(project: Path, client: TestClient) -> None:
    rng = np.random.default_rng(0)
    name = write_angles(project, 33 + rng.uniform(-1, 1, 500), 58 + rng.uniform(-1, 1, 500))
    data = client.get("/api/display/angdist", params={"path": name, "bins": 18}).json()
    counts = np.asarray(data["counts"])
    assert counts.shape == (36, 18) and counts.sum() == data["count"] == 500
    lon, lat = np.unravel_index(np.argmax(counts), counts.shape)
    assert counts[lon, lat] == 500
    assert data["longitude_edges"][lon] <= 33 < data["longitude_edges"][lon + 1]
    assert data["latitude_edges"][lat] <= 90 - 58 < data["latitude_edges"][lat + 1]  # tilt is the colatitude


def test_uniform_directions_give_a_flat_density(project: Path, client: TestClient) -> None:
    rng = np.random.default_rng(1)
    n, bins = 40000, 12
    rot = rng.uniform(-180, 180, n)
    tilt = np.rad2deg(np.arccos(rng.uniform(-1, 1, n)))  # uniform on the sphere
    data = client.get("/api/display/angdist", params={"path": write_angles(project, rot, tilt), "bins": bins}).json()
    counts = np.asarray(data["counts"], dtype=float)
    expected = n / counts.size
    chi2_per_cell = float(np.sum((counts - expected) ** 2 / expected)) / (counts.size - 1)
    assert 0.75 < chi2_per_cell < 1.3  # Poisson scatter only: the cells have equal areas
    density = np.asarray(data["density"])
    assert density.sum() * data["cell_solid_angle"] == pytest.approx(n)
    assert density.mean() == pytest.approx(n / (4 * np.pi), rel=1e-9)
    skewed = client.get("/api/display/angdist", params={"path": write_angles(project, rot, tilt / 2), "bins": bins}).json()
    assert np.asarray(skewed["counts"])[:, : bins // 2].sum() == 0  # tilt < 90°: the northern half only


def test_files_without_angles_are_refused(project: Path, client: TestClient) -> None:
    response = client.get("/api/display/angdist", params={"path": "default_pipeline.star"})
    assert response.status_code == 400 and "rlnAngleRot" in response.json()["error"]


def test_real_refined_particles(shared_data: Path, tmp_path: Path) -> None:
    from tests.gui.conftest import gui_client
    from vitreo.io.star import read_star

    root = tmp_path / "real"
    root.mkdir()
    (root / "particles.star").write_bytes((shared_data / "star/simplecryoem/particles.star").read_bytes())
    data = gui_client(root).get("/api/display/angdist", params={"path": "particles.star", "bins": 18}).json()
    table = read_star(root / "particles.star")["particles"]
    assert data["count"] == len(table) == 4501 and np.sum(data["counts"]) == 4501
    assert data["latitude_edges"][9] == pytest.approx(0.0)
    northern = np.asarray(table["rlnAngleTilt"]) <= 90  # latitude ≥ 0
    assert np.asarray(data["counts"])[:, 9:].sum() == int(northern.sum())
