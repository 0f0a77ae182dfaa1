"""Benchmark D2D (issue 14): Class2D on Dask workers against one process, on this machine.

The data: 1,000 simulated betagal particles, box 64 at 4.5 Å/px, CTF defocus 0.8–3 µm, SNR 0.05,
offsets up to ±3 px. Class2D: K = 10, 4 iterations (the first only seeds the classes, so three
aligned E-steps), psi 12°, offsets ±4 px in steps of 2 (oversampled once), mask 240 Å, images
pre-read. Four ways of running it, each timed from the first iteration (cluster start-up and
the workers' imports are reported apart):

- ``process_1x1``: this process, 1 thread;
- ``process_1x2``: this process, 2 threads;
- ``dask_1x1``: a LocalCluster of 1 worker process with 1 thread;
- ``dask_2x1``: a LocalCluster of 2 worker processes with 1 thread each.

Reported per way: wall seconds of the whole run and of its E-steps (the part that is split over
workers), CPU seconds of this process and of its workers (less sensitive than wall time to other
work on the machine), peak memory of this process, and the largest difference of its class
averages from ``process_1x1`` relative to their peak (the runs must agree up to the order of
sums). Speed-ups of ``dask_2x1`` over the others, measured; and, because the machine may be
shared, estimated for an idle machine from CPU times: this process's CPU seconds plus, per
E-step, the slowest shard's (the critical path; every process runs one thread). No GPU on this
machine kind: the CUDA path (``--gpu`` ids per worker) is not timed here.

Prints one JSON line; ``--quick`` runs 300 particles, K = 4 (for checking the script).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from vitreo.em.dask_cluster import local_cluster
from vitreo.ml.class2d import Class2DResult, Class2DSettings, run_class2d
from vitreo.ml.distributed import distributed_estep
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map

PIXEL, BOX = 4.5, 64


def simulated(work: Path, n: int) -> Path:
    volume = torch.from_numpy(default_structure_map(PIXEL, BOX))
    settings = StackSettings(n_particles=n, defocus_min=8000, defocus_max=30000, snr=0.05, max_origin=3.0)
    stack = simulate_particle_stack(volume, PIXEL, settings, torch.Generator().manual_seed(7))
    return write_particle_stack(stack, settings, work, truth_columns=False)


@contextmanager
def started_cluster(workers: int) -> Iterator[tuple[object, float]]:
    """A LocalCluster of ``workers`` processes of 1 thread, with its workers' imports done; and
    the seconds that took."""
    from distributed import Client

    start = time.perf_counter()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        client.run(__import__, "vitreo.ml.distributed")
        yield client, time.perf_counter() - start


def worker_cpu(client: object | None) -> float:
    """CPU seconds used so far by the client's workers (0 without one)."""
    return sum(client.run(time.process_time).values()) if client is not None else 0.0  # type: ignore[attr-defined]


def classify(star: Path, out: Path, settings: Class2DSettings, client: object | None) -> tuple[Class2DResult, dict]:
    """Class2D in this process or on the client's workers: the result and its figures (wall and
    CPU seconds; with workers, the E-steps' critical path: the sum over E-steps of the slowest
    shard's CPU seconds)."""
    start, cpu, workers_cpu = time.perf_counter(), time.process_time(), worker_cpu(client)
    with distributed_estep(client, threads=1) if client is not None else nullcontext() as workers:
        result = run_class2d(star, out / "run", settings, project_dir=star.parents[1])
    row = {"wall_s": round(time.perf_counter() - start, 1), "cpu_s": round(time.process_time() - cpu, 1),
           "estep_s": round(sum(s.estep_seconds for s in result.iterations[1:]), 1),
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if workers is not None:
        row["workers_cpu_s"] = round(worker_cpu(client) - workers_cpu, 1)
        row["shard_cpu_s"] = [[round(t, 2) for t in step] for step in workers.shard_cpu_seconds]
        # on an idle machine: this process's own CPU work, then the slowest shard of each E-step
        row["idle_wall_estimate_s"] = round(row["cpu_s"] + sum(max(step) for step in workers.shard_cpu_seconds), 1)
    return result, row


def agreement(result: Class2DResult, reference: Class2DResult) -> dict[str, float]:
    """Largest class-average difference (of the peak) and the fraction of particles in the same class."""
    peak = float(np.abs(reference.classes).max())
    return {"max_class_difference_of_peak": float(np.abs(result.classes - reference.classes).max() / peak),
            "same_class_fraction": float((result.state.class_index == reference.state.class_index).double().mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, k = (300, 4) if args.quick else (1000, 10)
    settings = Class2DSettings(nr_classes=k, nr_iter=4, particle_diameter=240, psi_step=12, offset_range=4,
                               offset_step=2, threads=1)
    report: dict[str, object] = {"workload": "D2D", "particles": n, "box": BOX, "classes": k, "iterations": 4,
                                 "cpu_cores": os.cpu_count(), "device": "cpu",
                                 "load_average_before": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        star = simulated(work, n)
        reference, report["process_1x1"] = classify(star, work / "p11", settings, None)
        result, row = classify(star, work / "p12", Class2DSettings(**{**settings.__dict__, "threads": 2}), None)
        report["process_1x2"] = {**row, **agreement(result, reference)}
        for workers in (1, 2):
            with started_cluster(workers) as (client, startup):
                result, row = classify(star, work / f"d{workers}", settings, client)
            report[f"dask_{workers}x1"] = {**row, **agreement(result, reference), "cluster_startup_s": round(startup, 1)}
    one, two, serial = report["dask_1x1"], report["dask_2x1"], report["process_1x1"]
    for name, other in (("dask_1x1", one), ("process_1x1", serial), ("process_1x2", report["process_1x2"])):
        report[f"speedup_dask_2x1_over_{name}"] = round(other["wall_s"] / two["wall_s"], 2)  # type: ignore[index]
    # idle-machine estimates from CPU times (one thread each: wall = CPU when nothing else runs)
    report["idle_speedup_estimate_dask_2x1_over_dask_1x1"] = round(
        one["idle_wall_estimate_s"] / two["idle_wall_estimate_s"], 2)  # type: ignore[index]
    report["idle_speedup_estimate_dask_2x1_over_process_1x1"] = round(
        serial["cpu_s"] / two["idle_wall_estimate_s"], 2)  # type: ignore[index]
    report["load_average_after"] = round(os.getloadavg()[0], 1)  # other work on the machine skews the times
    print(json.dumps(report))


if __name__ == "__main__":
    main()
