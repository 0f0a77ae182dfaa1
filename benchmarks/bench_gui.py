"""GUI display endpoints on tutorial-sized data: response time, payload size, peak memory; one JSON line.

In-process (FastAPI TestClient, no network): a 4096² micrograph rendered at scale 0.25 with
3σ contrast and a 20 Å low-pass; a 100,000-particle STAR file sorted by a column (the stack
view's order); a 100-image montage page of 128² particles; the central z slice of a 256³ map;
and "Save selected" of half the particles as a Select job. Times are medians of 3 requests.

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


def make_project(root: Path, n_particles: int) -> None:
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
        "rlnAutopickFigureOfMerit": rng.random(n_particles)})
    write_star(root / "Extract/particles.star", {"optics": optics, "particles": particles})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        make_project(root, args.particles)
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
    print(json.dumps({
        "benchmark": "gui_display", "particles": args.particles,
        "micrograph_4096_png_s": round(micrograph[0], 3), "micrograph_png_kb": round(micrograph[1] / 1024, 1),
        "stack_sort_s": round(sort[0], 3), "stack_sort_json_kb": round(sort[1] / 1024, 1),
        "montage_100x128_s": round(montage[0], 3), "montage_png_kb": round(montage[1] / 1024, 1),
        "map_256_slice_s": round(slice_[0], 3),
        "save_selected_half_s": round(select_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
