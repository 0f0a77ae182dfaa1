"""Display endpoints against known images: micrograph contrast, scaling and filters, map slices,
stack montages in sorted order, STAR tables, and "Save selected" as a Subset selection job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.gui.conftest import MODEL, png, write_classes, write_particles
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import Table, read_star, write_star
from vitreo.pipeline.job_star import read_job_star
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
    assert result == {"job": "Select/job001/", "particles": 8}
    job = project / result["job"]
    saved = read_star(job / "particles.star")["particles"]
    assert sorted(np.unique(saved["rlnClassNumber"]).tolist()) == [1, 3]
    assert np.bincount(saved["rlnClassNumber"]).tolist() == [0, 4, 0, 4]
    chosen = read_star(job / "class_averages.star")[""]  # RELION's bare data_ block
    assert chosen["rlnClassNumber"].tolist() == [1, 3]
    assert chosen["rlnClassDistribution"].tolist() == pytest.approx([0.2, 0.3])
    written, _ = read_mrc(project / str(chosen["rlnReferenceImage"][0]).split("@")[1])
    assert np.allclose(written, classes[[0, 2]], atol=1e-6)
    assert read_job_star(job / "job.star").values["select_classes"] == "1,3"  # it can be run again
    pipeline = read_pipeline(project / "default_pipeline.star")
    assert pipeline.process(result["job"]).type_label == "relion.select.interactive"
    assert pipeline.process(result["job"]).status.value == "Succeeded"
    assert pipeline.outputs_of(result["job"]) == [f"{result['job']}particles.star", f"{result['job']}class_averages.star"]
    assert "vitreo run Select --fn_model" in (job / "note.txt").read_text()


def write_3d_classes(root: Path, particles, box: int = 16) -> tuple[str, np.ndarray]:
    """Three maps (a ball off-centre along x, y and z in turn) as Class3D classes, and a _data.star."""
    z, y, x = np.mgrid[:box, :box, :box] - box // 2
    centres = [(4, 0, 0), (0, 4, 0), (0, 0, 4)]  # (x, y, z)
    maps = np.stack([((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 < 9).astype(np.float32) + 0.01 * (x + 2 * y + 3 * z)
                     for cx, cy, cz in centres])
    names = []
    for k, volume in enumerate(maps, start=1):
        names.append(f"Class3D/job002/run_it025_class{k:03d}.mrc")
        write_mrc(root / names[-1], volume, 2.0)
    model = "Class3D/job002/run_it025_model.star"
    write_star(root / model, {"model_general": {"rlnReferenceDimensionality": 3, "rlnPixelSize": 2.0},
                              "model_classes": Table({"rlnReferenceImage": names, "rlnClassDistribution": [0.5, 0.2, 0.3],
                                                      "rlnEstimatedResolution": [8.0, 12.0, 10.0]})})
    optics = read_star(root / "Particles/particles.star")["optics"]
    write_star(root / model.replace("_model", "_data"), {"optics": optics, "particles": particles})
    return model, maps


@pytest.mark.parametrize("view", ["projection", "slice"])
def test_3d_classes_show_their_views_and_sort(project: Path, client: TestClient, view: str) -> None:
    _, particles = write_particles(project, n=30, classes=3)
    model, maps = write_3d_classes(project, particles)
    info = client.get("/api/display/stack", params={"path": model, "sort": "rlnClassDistribution"}).json()
    assert info["kind"] == "classes" and info["volumes"] and info["order"] == [1, 2, 0]
    assert info["maps"][0] == "Class3D/job002/run_it025_class001.mrc"
    montage = png(client.get("/api/display/montage.png", params={"path": model, "sort": "rlnClassDistribution",
                                                                 "columns": 1, "view": view}))
    assert montage.shape == (3 * 16, 3 * 16)  # one class per row, its views along z, y and x side by side
    for position, k in enumerate(info["order"]):
        volume = maps[k]
        views = ([volume.sum(axis) for axis in range(3)] if view == "projection"
                 else [volume[8], volume[:, 8], volume[:, :, 8]])
        for axis, expected in enumerate(views):
            tile = montage[16 * position:16 * (position + 1), 16 * axis:16 * (axis + 1)]
            assert np.corrcoef(tile.ravel(), expected.ravel())[0, 1] > 0.97, (k, axis)
    assert client.get("/api/display/montage.png", params={"path": model, "view": "sideways"}).status_code == 400


def test_save_selected_3d_classes_writes_no_class_averages(project: Path, client: TestClient) -> None:
    _, particles = write_particles(project, n=30, classes=3)
    model, _ = write_3d_classes(project, particles)
    result = client.post("/api/display/select", json={"path": model, "rows": [1]}).json()
    assert result["particles"] == 10
    job = project / result["job"]
    assert set(read_star(job / "particles.star")["particles"]["rlnClassNumber"].tolist()) == {2}
    assert not (job / "class_averages.star").exists()  # as RELION: averages of 2D classes only


def test_an_optimiser_file_shows_its_classes(project: Path, client: TestClient) -> None:
    _, particles = write_particles(project, n=30, classes=3)
    write_classes(project, particles)
    optimiser = MODEL.replace("_model", "_optimiser")
    write_star(project / optimiser, {"optimiser_general": {"rlnModelStarFile": MODEL,
                                                           "rlnExperimentalDataStarFile": MODEL.replace("_model", "_data")}})
    assert client.get("/api/display/kind", params={"path": optimiser}).json()["kind"] == "classes"
    assert client.get("/api/display/stack", params={"path": optimiser}).json()["count"] == 3
    result = client.post("/api/display/select", json={"path": optimiser, "rows": [2]}).json()
    values = read_job_star(project / result["job"] / "job.star").values
    assert values["fn_model"] == optimiser and values["select_classes"] == "3"
    averages = client.get("/api/display/stack", params={"path": f"{result['job']}class_averages.star"}).json()
    assert averages["kind"] == "images" and averages["count"] == 1  # Select's averages are displayed too


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
