"""Time and peak memory to generate a simulated dataset; prints one JSON line.

Usage: python benchmarks/bench_simulate.py [--preset quick|tutorial|tiny] [--workers 0] [--keep DIR]
The dataset is written to a temporary folder (removed afterwards unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from vitreo.simulate import preset, simulate_dataset
from vitreo.simulate.dataset import worker_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", help="preset to generate (tiny, quick, tutorial)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0: automatic)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write the dataset here and keep it")
    args = parser.parse_args()
    config = preset(args.preset, workers=args.workers, seed=args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="bench_simulate_"))
    target = args.keep or scratch / "dataset"
    try:
        start = time.perf_counter()
        dataset = simulate_dataset(target, config)
        wall = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in dataset.root.rglob("*") if p.is_file()) / 2**20
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    frames = 1 if config.micrographs_only else config.n_frames
    width, height = config.micrograph_size
    report = {
        "benchmark": "simulate",
        "preset": args.preset,
        "micrographs": config.n_micrographs,
        "size": f"{width}x{height}",
        "frames": frames,
        "particles": dataset.n_particles,
        "junk": dataset.n_junk,
        "workers": worker_count(config),
        "cpus": os.cpu_count(),
        "wall_s": round(wall, 2),
        "s_per_micrograph": round(wall / config.n_micrographs, 3),
        "megapixel_frames_per_s": round(width * height * frames * config.n_micrographs / wall / 1e6, 2),
        "output_mb": round(size_mb, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_worker_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
