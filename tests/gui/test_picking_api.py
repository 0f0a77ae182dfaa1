"""Manual picking through the API: a ManualPick job's micrographs, picks saved as RELION's
manual-picking files (coordinate file + index) and read back; picks outside are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from vitreo.io.coords import read_coordinates
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, write_star
from vitreo.jobs.registry import find_spec
from vitreo.picking.coordinate_sets import read_coordinate_index
from vitreo.pipeline.job_state import mark_finished
from vitreo.pipeline.project import Project
from vitreo.pipeline.submit import create_job

MICS = ["MotionCorr/job002/Movies/mic1.mrc", "MotionCorr/job002/Movies/mic2.mrc"]


def manualpick_job(root: Path, **values: str) -> str:
    for name in MICS:
        write_mrc(root / name, np.zeros((150, 200), np.float32), 1.5)
    optics = Table({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1], "rlnMicrographPixelSize": [1.5],
                    "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    mics = Table({"rlnMicrographName": np.array(MICS, dtype=object), "rlnOpticsGroup": [1, 1],
                  "rlnCtfImage": np.array([m.replace(".mrc", "_PS.ctf:mrc") for m in MICS], dtype=object)})
    write_star(root / "micrographs.star", {"optics": optics, "micrographs": mics})
    project = Project.open(root)
    spec = find_spec("ManualPick")
    run = create_job(project, spec, spec.params({"fn_in": "micrographs.star", "diameter": "150", **values}))
    return mark_finished(project, run.name)


def test_pick_save_and_reload(project: Path, client: TestClient) -> None:
    job = manualpick_job(project)
    summary = client.get("/api/picking", params={"job": job}).json()
    assert [m["name"] for m in summary["micrographs"]] == MICS and summary["diameter"] == 150.0
    assert summary["micrographs"][0]["picks"] == 0 and summary["micrographs"][0]["pixel_size"] == 1.5
    assert summary["micrographs"][0]["ctf_image"] == "MotionCorr/job002/Movies/mic1_PS.ctf"

    saved = client.post("/api/picking/picks", json={"job": job, "micrograph": MICS[0], "x": [10, 50.5, 199],
                                                    "y": [20, 30, 149.5]}).json()
    assert saved["saved"] == 3
    file = project / "ManualPick/job001/Movies/mic1_manualpick.star"
    table = read_coordinates(file)
    assert table["rlnCoordinateX"].tolist() == [10, 50.5, 199] and table["rlnCoordinateY"].tolist() == [20, 30, 149.5]
    assert table["rlnParticleSelectionType"].tolist() == [2, 2, 2]
    assert table["rlnAutopickFigureOfMerit"].tolist() == [-999.0] * 3
    assert read_coordinate_index(project / "ManualPick/job001/manualpick.star") == {MICS[0]: str(file.relative_to(project))}

    picks = client.get("/api/picking/picks", params={"job": job, "micrograph": MICS[0]}).json()
    assert picks["x"] == [10, 50.5, 199] and picks["y"] == [20, 30, 149.5] and picks["colour"] == [-999.0] * 3
    client.post("/api/picking/picks", json={"job": job, "micrograph": MICS[0], "x": [10], "y": [20], "fom": [0.7]})
    again = client.get("/api/picking/picks", params={"job": job, "micrograph": MICS[0]}).json()
    assert again["x"] == [10] and again["fom"] == [0.7]  # a deleted pick stays deleted
    assert client.get("/api/picking", params={"job": job}).json()["micrographs"][0]["picks"] == 1


def test_bad_picks_are_refused(project: Path, client: TestClient) -> None:
    job = manualpick_job(project)
    for x, y in (([200], [10]), ([-1], [10]), ([10], [150]), ([1, 2], [3])):
        response = client.post("/api/picking/picks", json={"job": job, "micrograph": MICS[1], "x": x, "y": y})
        assert response.status_code == 400, (x, y)
    response = client.post("/api/picking/picks", json={"job": job, "micrograph": "other.mrc", "x": [], "y": []})
    assert response.status_code == 400 and "not one of the micrographs" in response.json()["error"]
    assert not (project / "ManualPick/job001/Movies/mic2_manualpick.star").exists()
    project.joinpath("Movies").mkdir()
    (project / "Movies/a.tiff").write_text("x")
    spec = find_spec("Import")
    other = create_job(Project.open(project), spec, spec.params({"fn_in_raw": "Movies/*.tiff"})).name
    assert "only ManualPick and AutoPick" in client.get("/api/picking", params={"job": other}).json()["error"]
