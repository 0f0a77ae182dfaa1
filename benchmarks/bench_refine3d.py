"""Benchmarks A3D-s and A3D (issue 9): gold-standard 3D auto-refinement of simulated particles.

A3D-s: 500 particles of an asymmetric phantom (one chain of 5A1A, betagal's monomer), box 64 at
3.54 Å/px, CTF defocus 1.0–2.5 µm, white noise at SNR 0.06, offsets up to ±3 px, C1. Reference:
the true map low-pass filtered to 40 Å. Sampling as RELION's GUI "15 degrees" (HEALPix order 1,
30° coarse / 15° after oversampling), local searches from "3.7 degrees" (order 3), offsets ±5 px
in coarse steps of 2 px; mask 200 Å; 2 threads, pre-read.
RELION 5.0.1 on this machine kind (3 MPI ranks × 1 thread): 1,633 CPU-s (27 min wall),
10 iterations, 20.6 Å gold-standard, median angular error 3.9°.

A3D (``--workload A3D``): 3,000 particles of betagal (5A1A in RELION's D2 axes), box 100 at
3.54 Å/px, the same CTF, noise and offsets, D2. Reference: the true map low-pass filtered to 50 Å;
"7.5 degrees" (order 2), local searches from "1.8 degrees" (order 4), offsets ±5 px in steps of
1 px (RELION's defaults); mask 200 Å.

Reported: wall and CPU seconds (of the refinement process), peak memory, iterations, the
gold-standard resolution (FSC 0.143 of the half-maps), the FSC-0.5 resolution against the true
map, the median angular error against the true orientations (symmetry-aware), and the E-step's
GEMM GFLOP/s and its fraction of this machine's matrix-product peak (about 190 GFLOP/s). One JSON line.
``--quick``: 200 particles of box 48 (a check of the script).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitreo.em.filters import lowpass
from vitreo.em.fsc import fsc, resolution_at
from vitreo.em.geometry import angular_distance, euler_to_matrix
from vitreo.io.mrc import write_mrc
from vitreo.ml.refine3d import Refine3DSettings, median_angular_error, run_refine3d
from vitreo.simulate.density import density_from_model
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure, default_structure_map

PEAK_GFLOPS = 190.0
RELION = {"cpu_seconds": 1633, "wall_seconds": 27 * 60, "iterations": 10, "resolution": 20.6, "angular_error": 3.9}


def monomer_map(pixel: float, box: int) -> np.ndarray:
    """The potential of chain A of 5A1A (asymmetric), centred."""
    structure = default_structure()
    for model in structure:
        for name in [chain.name for chain in model if chain.name != "A"]:
            model.remove_chain(name)
    return density_from_model(structure, pixel, box)


@dataclass(frozen=True)
class Workload:
    """A refinement benchmark: data, reference and sampling (HEALPix orders; offsets in pixels)."""

    particles: int
    box: int
    symmetry: str
    ini_high: float  # Å
    healpix_order: int
    local_order: int
    offset_step: float
    relion: dict | None = None


WORKLOADS = {
    "A3D-s": Workload(500, 64, "C1", 40.0, 1, 3, 2.0, RELION),
    "A3D-s-quick": Workload(200, 48, "C1", 40.0, 1, 3, 2.0),
    "A3D": Workload(3000, 100, "D2", 50.0, 2, 4, 1.0),
}


def true_map(workload: Workload, pixel: float) -> np.ndarray:
    """The monomer for the asymmetric workloads, betagal in RELION's D2 axes for A3D."""
    if workload.symmetry == "C1":
        return monomer_map(pixel, workload.box)
    return default_structure_map(pixel, workload.box)


def frame_corrected_error(state, truth_degrees: np.ndarray, subsets: np.ndarray) -> tuple[float, list[float]]:
    """The median angular error (degrees) once each half-set's frame is turned onto the truth's by
    its best common rotation (R_found ≈ R_true·G or G·R_true, whichever fits), and each turn's
    angle: a half-map that turned as a whole during refinement shows as a common offset of its
    particles (the two halves are refined apart, so each has its own frame)."""
    found = euler_to_matrix(*state.angles.double().unbind(-1))
    truth = euler_to_matrix(*torch.deg2rad(torch.from_numpy(np.asarray(truth_degrees, np.float64))).unbind(-1))
    errors, turns = [], []
    for half in np.unique(subsets):
        chosen = torch.from_numpy(subsets == half)
        best = None
        for right in (True, False):
            f, t = found[chosen], truth[chosen]
            mean = (t.transpose(1, 2) @ f).sum(0) if right else (f @ t.transpose(1, 2)).sum(0)
            u, _, vt = torch.linalg.svd(mean)
            turn = u @ torch.diag(torch.tensor([1.0, 1.0, float(torch.det(u @ vt))], dtype=u.dtype)) @ vt
            error = torch.rad2deg(angular_distance(f, t @ turn if right else turn @ t))
            angle = float(torch.rad2deg(angular_distance(turn[None], torch.eye(3, dtype=turn.dtype)[None]))[0])
            if best is None or float(error.median()) < float(best[0].median()):
                best = (error, angle)
        errors.append(best[0])
        turns.append(round(best[1], 2))
    return float(torch.cat(errors).median()), turns


def refine(star: Path, reference: Path, prefix: Path, settings: Refine3DSettings, project: Path):
    """Run in a fresh process so that CPU time and peak memory are the refinement's alone."""
    start = time.perf_counter()
    lines: list[str] = []
    result = run_refine3d(star, reference, prefix, settings, project_dir=project, log=lines.append)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return result, lines, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=[w for w in WORKLOADS if not w.endswith("quick")], default="A3D-s")
    parser.add_argument("--quick", action="store_true", help="A3D-s on 200 particles of box 48")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="project folder to keep (default: a temporary one)")
    args = parser.parse_args()
    name = "A3D-s-quick" if args.quick else args.workload
    workload = WORKLOADS[name]
    n, box = workload.particles, workload.box
    pixel, snr = 3.54, 0.06
    project = args.keep or Path(tempfile.mkdtemp(prefix="vitreo-bench-refine3d-"))
    project.mkdir(parents=True, exist_ok=True)
    truth = torch.from_numpy(true_map(workload, pixel))
    stack_settings = StackSettings(n_particles=n, snr=snr, max_origin=3.0, defocus_min=10000.0, defocus_max=25000.0)
    stack = simulate_particle_stack(truth, pixel, stack_settings, torch.Generator().manual_seed(2024))
    star = write_particle_stack(stack, stack_settings, project, random_subsets=False, truth_columns=False)
    reference = project / "reference.mrc"
    write_mrc(reference, lowpass(truth.double(), workload.ini_high, pixel, ndim=3).float().numpy(), pixel)
    (project / "Refine3D").mkdir(exist_ok=True)
    settings = Refine3DSettings(
        ini_high=workload.ini_high, healpix_order=workload.healpix_order, local_healpix_order=workload.local_order,
        offset_range=5.0, offset_step=workload.offset_step, particle_diameter=200.0, threads=args.threads, max_iter=30,
        symmetry=workload.symmetry,
    )
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result, lines, wall, cpu, peak_gib = pool.submit(refine, star, reference, project / "Refine3D/run", settings, project).result()
    angles = np.stack([stack.truth[k] for k in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")], 1)
    error = median_angular_error(result.state, angles, workload.symmetry)
    against_truth = resolution_at(fsc(result.map, truth), 0.5, pixel, box)
    gemm_seconds = sum(it["gemm_seconds"] for it in result.iterations)
    gflops = sum(it["gemm_gflop"] for it in result.iterations) / gemm_seconds if gemm_seconds > 0 else 0.0
    figures = {
        "workload": name, "particles": n, "box": box, "pixel_size": pixel, "snr": snr, "symmetry": workload.symmetry,
        "threads": args.threads,
        "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "peak_memory_gib": round(peak_gib, 2),
        "iterations": len(result.iterations) + 1,
        "converged": any("Refinement has converged" in line for line in lines),
        "gold_standard_resolution": round(result.resolution, 2),
        "fsc_0.5_vs_truth": round(against_truth, 2),
        "median_angular_error_deg": round(error, 2),
        "estep_gemm_gflops": round(gflops, 1), "fraction_of_peak": round(gflops / PEAK_GFLOPS, 3),
        "per_iteration": [{k: round(v, 2) for k, v in it.items()} for it in result.iterations],
    }
    if workload.symmetry == "C1":  # each half-set's frame turn (symmetry mates would blur a common rotation)
        frame_error, frame_turns = frame_corrected_error(result.state, angles, result.subsets.cpu().numpy())
        figures.update({"median_angular_error_after_frame_turn_deg": round(frame_error, 2), "frame_turns_deg": frame_turns})
    if workload.relion is not None:
        figures["relion_5_0_1"] = workload.relion
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
