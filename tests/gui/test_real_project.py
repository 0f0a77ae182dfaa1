"""The API on a real RELION 5 project (the betagal tutorial snapshot in ../shared/data): its
pipeline, its 2D classes sorted and selected, and its extracted particles. Skips without the data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.gui.conftest import gui_client, png
from vitreo.io.mrc import read_mrc
from vitreo.io.star import read_star

PROJECT = "relion5_betagal_sppractice"
MODEL = "Class2D/job010/run_it025_model.star"


@pytest.fixture
def real_project(shared_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "betagal"
    for tree in ("star", "images"):
        shutil.copytree(shared_data / tree / PROJECT, root, dirs_exist_ok=True)
    return root


@pytest.fixture
def real_client(real_project: Path) -> TestClient:
    return gui_client(real_project)


def test_the_real_pipeline_is_listed(real_client: TestClient) -> None:
    jobs = {job["name"]: job for job in real_client.get("/api/jobs").json()["jobs"]}
    assert {"Import/job001/", "MotionCorr/job002/", "Class2D/job010/"} <= set(jobs)
    assert "Import/job001/movies.star" in [node["name"] for node in jobs["Import/job001/"]["outputs"]]
    details = real_client.get("/api/job", params={"job": "Class2D/job010/"}).json()
    assert details["values"]["nr_classes"] == "50" and details["spec"] is not None


def test_real_classes_sort_and_select(real_project: Path, real_client: TestClient) -> None:
    model = read_star(real_project / MODEL)["model_classes"]
    distribution = np.asarray(model["rlnClassDistribution"])
    info = real_client.get("/api/display/stack", params={"path": MODEL, "sort": "rlnClassDistribution",
                                                         "reverse": True}).json()
    assert info["kind"] == "classes" and info["count"] == 50
    assert np.all(np.diff(distribution[info["order"]]) <= 0)
    averages, _ = read_mrc(real_project / "Class2D/job010/run_it025_classes.mrcs")
    tile = png(real_client.get("/api/display/montage.png", params={"path": MODEL, "sort": "rlnClassDistribution",
                                                                   "reverse": True, "limit": 1, "columns": 1}))
    assert np.corrcoef(tile.ravel(), averages[info["order"][0]].ravel())[0, 1] > 0.95
    top = info["order"][:3]
    result = real_client.post("/api/display/select", json={"path": MODEL, "rows": top, "max_per_class": 10}).json()
    data = read_star(real_project / "Class2D/job010/run_it025_data.star")["particles"]
    counts = [min(10, int(np.sum(data["rlnClassNumber"] == row + 1))) for row in top]
    assert result["particles"] == sum(counts)
    saved = read_star(real_project / result["job"] / "particles.star")
    assert set(saved["particles"]["rlnClassNumber"].tolist()) <= {row + 1 for row in top}
    assert "optics" in saved
    chosen = read_star(real_project / result["job"] / "class_averages.star")[""]
    assert chosen["rlnClassNumber"].tolist() == sorted(row + 1 for row in top)
    written, _ = read_mrc(real_project / str(chosen["rlnReferenceImage"][0]).split("@")[1])
    assert np.allclose(written, averages[np.sort(top)], atol=1e-6)


def test_real_extracted_particles_are_displayed(real_client: TestClient) -> None:
    name = "Extract/job009/Movies/20170629_00021_frameImage_extract.star"
    info = real_client.get("/api/display/stack", params={"path": name}).json()
    assert info["kind"] == "particles" and info["count"] == 242
    montage = png(real_client.get("/api/display/montage.png", params={"path": name, "limit": 20, "columns": 5}))
    assert montage.shape == (4 * 64, 5 * 64) and montage.std() > 10
    spectrum = png(real_client.get("/api/display/micrograph.png", params={
        "path": "MotionCorr/job002/Movies/20170629_00021_frameImage_PS.mrc", "sigma": 3, "scale": 0.5}))
    assert spectrum.shape == (256, 256)


def test_real_autopick_results_are_reviewed(real_project: Path, real_client: TestClient) -> None:
    summary = real_client.get("/api/picking", params={"job": "AutoPick/job008/"}).json()
    with_picks = [m for m in summary["micrographs"] if m["picks"]]
    assert len(with_picks) == 1 and with_picks[0]["name"].endswith("20170629_00021_frameImage.mrc")
    source = read_star(real_project / "AutoPick/job008/Movies/20170629_00021_frameImage_autopick.star")
    table = next(iter(source.values()))
    picks = real_client.get("/api/picking/picks", params={"job": "AutoPick/job008/",
                                                          "micrograph": with_picks[0]["name"]}).json()
    assert with_picks[0]["picks"] == len(table) == len(picks["x"]) > 0
    assert picks["colour"] == pytest.approx(table["rlnAutopickFigureOfMerit"].tolist())
