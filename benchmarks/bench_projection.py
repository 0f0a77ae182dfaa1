"""Projection and back-projection throughput: slices per second, peak memory, round-trip FSC.

Projects ``--n`` central slices of a ``--box``³ random smooth map (padding 2) at uniformly random
orientations, inserts them into a back-projector, reconstructs, and prints one JSON line.
Usage: python benchmarks/bench_projection.py [--n 10000] [--box 128] [--device cpu] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from vitreo.em.backprojector import BackProjector
from vitreo.em.fsc import fsc
from vitreo.em.geometry import random_rotations
from vitreo.em.projector import Projector


def smooth_map(box: int, device: torch.device) -> torch.Tensor:
    """Band-limited random density inside a soft sphere of radius box/3."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randn((box,) * 3, generator=g)
    k = torch.fft.fftfreq(box)
    k2 = sum(m**2 for m in torch.meshgrid(k, k, k, indexing="ij"))
    smooth = torch.fft.ifftn(torch.fft.fftn(noise) * torch.exp(-k2 / (2 * 0.15**2))).real
    axis = torch.arange(box, dtype=torch.float32) - box // 2
    r = torch.linalg.vector_norm(torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij")), dim=0)
    return (smooth * torch.sigmoid(box / 3 - r)).to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="number of slices")
    parser.add_argument("--box", type=int, default=128, help="box size in pixels")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--batch", type=int, default=1000, help="slices projected and inserted per call")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    volume = smooth_map(args.box, device)
    rotations = random_rotations(args.n, torch.Generator().manual_seed(1), dtype=torch.float32, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    start = time.perf_counter()
    projector = Projector(volume)
    backprojector = BackProjector(args.box, device=device)
    sync(device)
    setup_s = time.perf_counter() - start
    project_s = insert_s = 0.0
    for batch in rotations.split(args.batch):
        start = time.perf_counter()
        slices = projector.project(batch)
        sync(device)
        project_s += time.perf_counter() - start
        start = time.perf_counter()
        backprojector.insert(slices, batch)
        sync(device)
        insert_s += time.perf_counter() - start
    start = time.perf_counter()
    result = backprojector.reconstruct()
    sync(device)
    reconstruct_s = time.perf_counter() - start

    curve = fsc(result.cpu(), volume.cpu())
    last = int(0.8 * args.box / 2)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {
        "benchmark": "projection",
        "device": str(device),
        "threads": args.threads,
        "box": args.box,
        "padding": 2,
        "slices": args.n,
        "setup_s": round(setup_s, 3),
        "project_s": round(project_s, 3),
        "project_slices_per_s": round(args.n / project_s, 1),
        "insert_s": round(insert_s, 3),
        "insert_slices_per_s": round(args.n / insert_s, 1),
        "reconstruct_s": round(reconstruct_s, 3),
        "fsc_min_to_0.8_nyquist": round(float(curve[1 : last + 1].min()), 5),
        "peak_rss_mb": round(peak_mb, 1),
    }
    if device.type == "cuda":
        report["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
