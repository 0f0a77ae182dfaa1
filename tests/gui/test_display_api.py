"""Display endpoints against known images: micrograph contrast, scaling and filters, map slices,
stack montages in sorted order, STAR tables, and "Save selected" as a Subset selection job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.gui.conftest import MODEL, png, write_classes, write_particles
from vitreo.io.mrc import write_mrc
from vitreo.io.star import read_star
from vitreo.pipeline.pipeline_star import read_pipeline


def test_micrograph_contrast_scale_and_filters(project: Path, client: TestClient) -> None:
    y, x = np.mgrid[:64, :64]
    ramp = (x + 64 * y).astype(np.float32)  # 0 .. 4095
    write_mrc(project / "mic.mrc", ramp, 1.0)
    full = png(client.get("/api/display/micrograph.png", params={"path": "mic.mrc"}))
    assert np.abs(full - np.round(ramp / 4095 * 255)).max() <= 1  # min..max -> black..white
    window = png(client.get("/api/display/micrograph.png", params={"path": "mic.mrc", "black": 1000, "white": 2000}))
    expected = np.clip(np.round((ramp - 1000) / 1000 * 255), 0, 255)
    assert np.abs(window - expected).max() <= 1
    sigma = png(client.get("/api/display/micrograph.png", params={"path": "mic.mrc", "sigma": 1}))
    inside = np.abs(ramp - ramp.mean()) < 0.9 * ramp.std()
    assert sigma[~inside & (ramp < ramp.mean())].max() <= 13 and sigma[~inside & (ramp > ramp.mean())].min() >= 242
    assert png(client.get("/api/display/micrograph.png", params={"path": "mic.mrc", "scale": 0.25})).shape == (16, 16)

    checker = np.where((x + y) % 2 == 0, 1.0, -1.0).astype(np.float32) + np.sin(2 * np.pi * x / 64)
    write_mrc(project / "checker.mrc", checker, 2.0)
    fixed = {"path": "checker.mrc", "black": -2.5, "white": 2.5}
    raw = png(client.get("/api/display/micrograph.png", params=fixed))
    smooth = png(client.get("/api/display/micrograph.png", params={**fixed, "lowpass": 20}))
    coarse_removed = png(client.get("/api/display/micrograph.png", params={**fixed, "highpass": 20}))
    sine = np.round((np.sin(2 * np.pi * x / 64) + 2.5) / 5 * 255)
    assert raw.std() > 50 and np.abs(smooth - sine).max() <= 3  # the checkerboard (Nyquist) is gone
    assert np.abs(np.abs(coarse_removed - 127.5) - 51).max() <= 3  # only the ±1 checkerboard is left


def test_map_slices_along_each_axis(project: Path, client: TestClient) -> None:
    z, y, x = np.mgrid[:8, :10, :12]
    volume = (10 * z + 3 * y + x).astype(np.float32)
    write_mrc(project / "map.mrc", volume, 1.5)
    info = client.get("/api/display/map", params={"path": "map.mrc"}).json()
    assert info["shape"] == [8, 10, 12] and info["pixel_size"] == pytest.approx(1.5)
    grey = {"path": "map.mrc", "black": 0, "white": 255}
    assert np.array_equal(png(client.get("/api/display/map/slice.png", params={**grey, "axis": "z", "index": 3})),
                          volume[3])
    assert np.array_equal(png(client.get("/api/display/map/slice.png", params={**grey, "axis": "x", "index": 5})),
                          volume[:, :, 5])
    assert np.array_equal(png(client.get("/api/display/map/slice.png", params={**grey, "axis": "y"})), volume[:, 5, :])
    assert client.get("/api/display/map/slice.png", params={**grey, "axis": "z", "index": 8}).status_code == 400
    assert client.get("/api/display/kind", params={"path": "map.mrc"}).json()["kind"] == "map"


def cells(montage: np.ndarray, box: int, count: int, columns: int) -> list[np.ndarray]:
    return [montage[(i // columns) * box:(i // columns + 1) * box, (i % columns) * box:(i % columns + 1) * box]
            for i in range(count)]


@pytest.mark.parametrize("reverse", [False, True])
def test_stack_montage_sorts_by_any_column(project: Path, client: TestClient, reverse: bool) -> None:
    images, particles = write_particles(project)
    score = particles["rlnAutopickFigureOfMerit"]
    expected = np.argsort(-score if reverse else score, kind="stable")
    info = client.get("/api/display/stack", params={"path": "Particles/particles.star",
                                                    "sort": "rlnAutopickFigureOfMerit", "reverse": reverse}).json()
    assert info["kind"] == "particles" and info["count"] == 12 and "rlnClassNumber" in info["labels"]
    assert info["order"] == expected.tolist() and info["values"] == pytest.approx(score[expected], abs=1e-6)
    montage = png(client.get("/api/display/montage.png", params={
        "path": "Particles/particles.star", "sort": "rlnAutopickFigureOfMerit", "reverse": reverse,
        "offset": 2, "limit": 8, "columns": 3}))
    assert montage.shape == (3 * 16, 3 * 16)
    for position, tile in enumerate(cells(montage, 16, 8, 3)):  # each tile is the image the order names
        correlations = [np.corrcoef(tile.ravel(), image.ravel())[0, 1] for image in images]
        assert int(np.argmax(correlations)) == expected[2 + position] and max(correlations) > 0.9


def test_class_numbers_sort_ties_in_file_order(project: Path, client: TestClient) -> None:
    write_particles(project)
    info = client.get("/api/display/stack", params={"path": "Particles/particles.star", "sort": "rlnClassNumber",
                                                    "reverse": True}).json()
    assert info["order"] == [2, 5, 8, 11, 1, 4, 7, 10, 0, 3, 6, 9]
    bare = client.get("/api/display/stack", params={"path": "Particles/particles.mrcs"}).json()
    assert bare["kind"] == "images" and bare["order"] == list(range(12))
    assert client.get("/api/display/stack", params={"path": "Particles/particles.star", "sort": "rlnNope"}).status_code == 400


def test_save_selected_particles_makes_a_select_job(project: Path, client: TestClient) -> None:
    _, particles = write_particles(project)
    response = client.post("/api/display/select", json={"path": "Particles/particles.star", "rows": [5, 1, 3, 3],
                                                        "alias": "good"})
    assert response.json() == {"job": "Select/job001/", "particles": 3}
    saved = read_star(project / "Select/job001/particles.star")
    assert saved["particles"]["rlnImageName"].tolist() == particles["rlnImageName"][[1, 3, 5]].tolist()
    assert saved["optics"]["rlnImagePixelSize"].tolist() == [2.0]
    pipeline = read_pipeline(project / "default_pipeline.star")
    process = pipeline.process("Select/job001/")
    assert process.status.value == "Succeeded" and process.type_label == "relion.select.interactive"
    assert process.alias == "Select/good/" and (project / "Select/job001/RELION_JOB_EXIT_SUCCESS").exists()
    assert pipeline.inputs_of("Select/job001/") == ["Particles/particles.star"]
    assert pipeline.outputs_of("Select/job001/") == ["Select/job001/particles.star"]
    assert client.post("/api/display/select", json={"path": "Particles/particles.star", "rows": []}).status_code == 400
    assert client.post("/api/display/select", json={"path": "Particles/particles.star", "rows": [12]}).status_code == 400


def test_save_selected_classes_with_a_maximum_per_class(project: Path, client: TestClient) -> None:
    _, particles = write_particles(project, n=30, classes=3)
    classes = write_classes(project, particles)
    name = MODEL
    info = client.get("/api/display/stack", params={"path": name, "sort": "rlnClassDistribution", "reverse": True}).json()
    assert info["kind"] == "classes" and info["order"] == [1, 2, 0]
    montage = png(client.get("/api/display/montage.png", params={"path": name, "sort": "rlnClassDistribution",
                                                                 "reverse": True, "columns": 3}))
    assert np.corrcoef(montage[:, :16].ravel(), classes[1].ravel())[0, 1] > 0.9
    result = client.post("/api/display/select", json={"path": name, "rows": [0, 2], "max_per_class": 4}).json()
    assert result["particles"] == 8
    saved = read_star(project / f"{result['job']}/particles.star")["particles"]
    assert sorted(np.unique(saved["rlnClassNumber"]).tolist()) == [1, 3]
    assert np.bincount(saved["rlnClassNumber"]).tolist() == [0, 4, 0, 4]


def test_star_tables_as_json_and_file_kinds(project: Path, client: TestClient) -> None:
    _, particles = write_particles(project)
    data = client.get("/api/display/star", params={"path": "Particles/particles.star", "limit": 5}).json()
    table = data["blocks"]["particles"]
    assert table["count"] == 12 and len(table["rows"]) == 5 and table["labels"] == particles.labels
    assert table["rows"][0][0] == particles["rlnImageName"][0]
    assert client.get("/api/display/star", params={"path": "default_pipeline.star"}).json()["blocks"]
    kinds = {path: client.get("/api/display/kind", params={"path": path}).json().get("kind")
             for path in ("Particles/particles.star", "Particles/particles.mrcs", "default_pipeline.star")}
    assert kinds == {"Particles/particles.star": "particles", "Particles/particles.mrcs": "stack",
                     "default_pipeline.star": "star"}
    assert client.get("/api/display/kind", params={"path": "missing.mrc"}).status_code == 404
