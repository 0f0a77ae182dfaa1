"""GUI display endpoints on tutorial-sized data: response time, payload size, peak memory; one JSON line.

In-process (FastAPI TestClient, no network): a 4096² micrograph rendered at scale 0.25 with
3σ contrast and a 20 Å low-pass; a 100,000-particle STAR file sorted by a column (the stack
view's order); a 100-image montage page of 128² particles; the central z slice of a 256³ map;
"Save selected" of half the particles as a Select job; the angular distribution of the 100,000
particles; a montage of ten 128³ 3D classes (first request: maps read and projected; then
cached); the CTF-fit image of a 512² spectrum; and "Save selected" of 10 of 50 2D classes, which
runs the Select job as its own process and waits for it. Times are medians of 3 requests.

Usage: python benchmarks/bench_gui.py [--particles N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from vitreo.gui.app import create_app
from vitreo.io.image_refs import format_image_names
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, write_star
from vitreo.pipeline.project import Project


def timed(client: TestClient, method: str, url: str, **kwargs) -> tuple[float, int]:
    """Median seconds of 3 requests and the payload size in bytes."""
    times, size = [], 0
    for _ in range(3):
        start = time.perf_counter()
        response = client.request(method, url, **kwargs)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
        size = len(response.content)
    return statistics.median(times), size


def make_classes(root: Path, particles: Table) -> tuple[str, str]:
    """50 2D classes (a _model.star with its _data.star) and ten 128³ 3D classes; returns both model names."""
    rng = np.random.default_rng(1)
    write_mrc(root / "Class2D/classes.mrcs", rng.standard_normal((50, 128, 128), dtype=np.float32), 3.54, is_stack=True)
    model2d = "Class2D/run_it025_model.star"
    classes = Table({"rlnReferenceImage": format_image_names(np.arange(50), "Class2D/classes.mrcs").astype(object),
                     "rlnClassDistribution": np.full(50, 0.02)})
    write_star(root / model2d, {"model_general": {"rlnReferenceDimensionality": 2, "rlnPixelSize": 3.54},
                                "model_classes": classes})
    optics = Table({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1], "rlnImagePixelSize": [3.54],
                    "rlnImageSize": [128], "rlnImageDimensionality": [2]})
    write_star(root / "Class2D/run_it025_data.star", {"optics": optics, "particles": particles})
    names = []
    for k in range(10):
        names.append(f"Class3D/run_it025_class{k + 1:03d}.mrc")
        write_mrc(root / names[-1], rng.standard_normal((128, 128, 128), dtype=np.float32), 3.54)
    model3d = "Class3D/run_it025_model.star"
    write_star(root / model3d, {"model_general": {"rlnReferenceDimensionality": 3},
                                "model_classes": Table({"rlnReferenceImage": names, "rlnClassDistribution": np.full(10, 0.1)})})
    return model2d, model3d


def make_ctf_fit(root: Path) -> str:
    """CTFFIND's files of a fitted 512² synthetic spectrum; returns the diagnostic image's name."""
    import torch

    from vitreo.em.ctf import CtfParams, ctf_2d
    from vitreo.em.fourier import centred_spectrum
    from vitreo.preprocess.ctf_estimation import CtfSettings, estimate_ctf
    from vitreo.preprocess.ctf_model import Optics
    from vitreo.preprocess.ctffind_files import write_ctffind_files

    ctf = ctf_2d(CtfParams.from_values(defocus_u=15000.0, defocus_v=14000.0, defocus_angle=30.0, voltage=300.0, cs=2.7,
                                       amplitude_contrast=0.1, dtype=torch.float64), 512, 1.0)[0]
    spectrum = 1.0 + centred_spectrum(ctf.square(), (512, 512)) * (1 + 0.3 * torch.randn(512, 512, dtype=torch.float64))
    settings = CtfSettings(Optics(300.0, 2.7, 0.1), res_min=30.0, res_max=4.0)
    (root / "CtfFind").mkdir()
    write_ctffind_files(root / "CtfFind/mic_PS", "mic_PS.mrc", estimate_ctf(spectrum, 1.0, settings), settings)
    return "CtfFind/mic_PS.ctf"


def make_project(root: Path, n_particles: int) -> Table:
    Project.init(root)
    rng = np.random.default_rng(0)
    write_mrc(root / "mic.mrc", rng.standard_normal((4096, 4096), dtype=np.float32), 0.885)
    write_mrc(root / "map.mrc", rng.standard_normal((256, 256, 256), dtype=np.float32), 1.0)
    n_images = 1000
    write_mrc(root / "Extract/particles.mrcs", rng.standard_normal((n_images, 128, 128), dtype=np.float32), 3.54,
              is_stack=True)
    optics = Table({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1], "rlnImagePixelSize": [3.54],
                    "rlnImageSize": [128], "rlnImageDimensionality": [2]})
    particles = Table({
        "rlnImageName": format_image_names(np.arange(n_particles) % n_images, "Extract/particles.mrcs").astype(object),
        "rlnOpticsGroup": np.ones(n_particles, dtype=np.int64),
        "rlnClassNumber": rng.integers(1, 51, n_particles),
        "rlnAutopickFigureOfMerit": rng.random(n_particles),
        "rlnAngleRot": rng.uniform(-180, 180, n_particles),
        "rlnAngleTilt": np.rad2deg(np.arccos(rng.uniform(-1, 1, n_particles)))})
    write_star(root / "Extract/particles.star", {"optics": optics, "particles": particles})
    return particles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        particles = make_project(root, args.particles)
        model2d, model3d = make_classes(root, particles)
        ctf = make_ctf_fit(root)
        client = TestClient(create_app(root, "t"))
        client.headers["x-vitreo-token"] = "t"
        star = "Extract/particles.star"
        micrograph = timed(client, "GET", "/api/display/micrograph.png",
                           params={"path": "mic.mrc", "scale": 0.25, "sigma": 3, "lowpass": 20})
        sort = timed(client, "GET", "/api/display/stack",
                     params={"path": star, "sort": "rlnAutopickFigureOfMerit", "reverse": True})
        montage = timed(client, "GET", "/api/display/montage.png",
                        params={"path": star, "sort": "rlnAutopickFigureOfMerit", "limit": 100, "columns": 10})
        slice_ = timed(client, "GET", "/api/display/map/slice.png", params={"path": "map.mrc", "sigma": 3})
        start = time.perf_counter()
        response = client.post("/api/display/select", json={"path": star, "rows": list(range(0, args.particles, 2))})
        select_s = time.perf_counter() - start
        assert response.status_code == 200, response.text
        angdist = timed(client, "GET", "/api/display/angdist", params={"path": star, "bins": 18})
        start = time.perf_counter()
        first = client.get("/api/display/montage.png", params={"path": model3d, "columns": 1})
        classes3d_first_s = time.perf_counter() - start
        assert first.status_code == 200, first.text
        classes3d = timed(client, "GET", "/api/display/montage.png", params={"path": model3d, "columns": 1})
        ctf_png = timed(client, "GET", "/api/display/ctf/fit.png", params={"path": ctf})
        start = time.perf_counter()
        response = client.post("/api/display/select", json={"path": model2d, "rows": list(range(0, 50, 5))})
        select_classes_s = time.perf_counter() - start
        assert response.status_code == 200, response.text
    print(json.dumps({
        "benchmark": "gui_display", "particles": args.particles,
        "micrograph_4096_png_s": round(micrograph[0], 3), "micrograph_png_kb": round(micrograph[1] / 1024, 1),
        "stack_sort_s": round(sort[0], 3), "stack_sort_json_kb": round(sort[1] / 1024, 1),
        "montage_100x128_s": round(montage[0], 3), "montage_png_kb": round(montage[1] / 1024, 1),
        "map_256_slice_s": round(slice_[0], 3),
        "save_selected_half_s": round(select_s, 3),
        "angdist_s": round(angdist[0], 3), "angdist_json_kb": round(angdist[1] / 1024, 1),
        "classes3d_10x128_first_s": round(classes3d_first_s, 3), "classes3d_10x128_s": round(classes3d[0], 3),
        "ctf_fit_512_png_s": round(ctf_png[0], 3),
        "save_selected_classes_select_job_s": round(select_classes_s, 3),
        "selected_class_particles": response.json()["particles"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
