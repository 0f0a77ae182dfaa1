"""Benchmark A2D: reference-free 2D classification of simulated betagal particles, and the 242 real
betagal particles of ../shared/data into 5 classes (a PNG montage of the class averages).

A2D (issue 8): 2,000 particles, box 100, 3.54 Å/px, CTF defocus 0.8–3 µm, white noise at SNR 0.05,
uniformly random orientations, offsets up to ±3 px; K = 20, 10 iterations, T = 2, psi 10° (5°
after oversampling), offsets ±5 px in steps of 2 (oversampled), mask 200 Å, 2 threads, pre-read.
RELION 5.0.1 on this machine kind: 890 CPU-s, 190 MB, 19.7 Å, per-class in-plane error spread
3.3–4.1° (median over classes).

Accuracy against truth: each class average is matched to its best projection of the true map
(D2 asymmetric unit, in-plane angle, shift); a particle's in-plane error is the twist between
Rz(psi)·A_class and its true orientation (nearest D2 copy). Reported: the median |error| over
particles, the median over classes (≥ 10 particles) of the per-class circular spread, how many
classes match their projection with FSC ≥ 0.5 to 20 Å, and the median of those FSC-0.5
resolutions (from 50 Å on).

Prints one JSON line. ``--quick`` runs a smaller version (for checking the script);
``--tutorial`` the tutorial-size run of issue 8 (10,000 particles, K = 100, 25 iterations);
``--tutorial --max-iterations M`` only its first M iterations (same sizes and sampling), reporting
each iteration's time and image size, the peak memory, and an extrapolation to 25 iterations
(labelled as such: "steady" repeats the last measured iteration's time, "full_size" scales it to
the full image size by the number of Fourier pixels, an upper estimate).
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
from pathlib import Path

import numpy as np
import torch

from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.io.image_refs import parse_image_name
from vitreo.io.star import Table, read_star, write_star
from vitreo.ml.class2d import Class2DSettings, run_class2d
from vitreo.ml.evaluate import circular_spread, in_plane_errors, match_projections, predicted_rotations
from vitreo.plots.montage import save_montage
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_STAR = REAL_DATA / "star" / "relion5_betagal_sppractice" / "Extract" / "job009" / "particles.star"
RESULTS = Path(__file__).resolve().parent / "results"
PEAK_GFLOPS = 190.0


def classify(star: Path, prefix: Path, settings: Class2DSettings, project: Path):
    """Run in a fresh process, so that its CPU time and peak memory are the classification's alone.
    Returns the result, the wall time and the process CPU time at the end of each iteration."""
    start = time.perf_counter()
    cpu_marks: list[float] = []

    def log(message: str) -> None:
        if message.startswith("iteration "):
            cpu_marks.append(time.process_time())
        print(message, file=sys.stderr, flush=True)

    cpu_start = time.process_time()
    result = run_class2d(star, prefix, settings, project_dir=project, log=log)
    cpu_iterations = np.diff([cpu_start, *cpu_marks]).tolist()
    return result, time.perf_counter() - start, cpu_iterations


def simulated(work: Path, n: int, box: int, pixel: float, seed: int) -> tuple[Path, dict[str, np.ndarray], torch.Tensor]:
    volume = torch.from_numpy(default_structure_map(pixel, box))
    settings = StackSettings(n_particles=n, defocus_min=8000, defocus_max=30000, snr=0.05, max_origin=3.0)
    stack = simulate_particle_stack(volume, pixel, settings, torch.Generator().manual_seed(seed))
    star = write_particle_stack(stack, settings, work, truth_columns=False)
    return star, stack.truth, volume


def accuracy(result, truth: dict[str, np.ndarray], volume: torch.Tensor, pixel: float) -> dict[str, float]:
    classes = torch.from_numpy(result.classes)
    match = match_projections(classes, volume, pixel, "D2", resolution=15.0, mask_radius=100.0 / pixel)
    true_rot = euler_degrees_to_matrix(*(torch.from_numpy(truth[k]) for k in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")))
    state = result.state
    errors = in_plane_errors(predicted_rotations(state.angles[:, 2], state.class_index, match.rotations), true_rot, "D2")
    spreads = [
        circular_spread(errors[state.class_index == k])
        for k in range(result.model.n_classes)
        if int((state.class_index == k).sum()) >= 10
    ]
    populated = torch.bincount(state.class_index, minlength=result.model.n_classes) >= 10
    return {
        "median_inplane_error_deg": round(float(errors.abs().median()), 2),
        "median_class_inplane_spread_deg": round(float(np.median(spreads)), 2),
        "classes_fsc05_within_20A": int(((match.resolution_05 <= 20.0) & populated).sum()),
        "median_class_fsc05_vs_truth_A": round(float(match.resolution_05[populated].median()), 1),
        "populated_classes": int(populated.sum()),
    }


def extrapolation(summaries, cpu_seconds: list[float], box: int, planned: int) -> dict[str, object]:
    """Per-iteration figures of a partial run and two clearly labelled extrapolations to ``planned``
    iterations: the last iteration's time repeated ("steady"), and that time scaled by the Fourier
    pixels of the full image size over those of its own size ("full_size", an upper estimate: the
    coarse pass does not grow). CPU seconds of iteration 1 include reading the images."""
    seconds = [s.seconds for s in summaries]
    last = summaries[-1]
    remaining = planned - len(summaries)
    scale = (box / max(last.current_size, 1)) ** 2

    def extrapolate(times: list[float]) -> tuple[int, int]:
        return round(sum(times) + remaining * times[-1]), round(sum(times) + remaining * times[-1] * scale)

    wall_steady, wall_full = extrapolate(seconds)
    cpu_steady, cpu_full = extrapolate(cpu_seconds)
    return {
        "measured_iterations": len(summaries),
        "iteration_wall_s": [round(t, 1) for t in seconds],
        "iteration_cpu_s": [round(t, 1) for t in cpu_seconds],
        "iteration_image_size": [s.current_size for s in summaries],
        "iteration_gemm_gflops": [round(s.gemm_gflops, 1) for s in summaries],
        "extrapolated_wall_s_steady": wall_steady, "extrapolated_wall_s_full_size": wall_full,
        "extrapolated_cpu_s_steady": cpu_steady, "extrapolated_cpu_s_full_size": cpu_full,
        "extrapolation_note": f"EXTRAPOLATED to {planned} iterations from {len(summaries)} measured",
    }


def present_particles(star: Path, project: Path, out: Path) -> Path:
    """A copy of ``star`` with only the particles whose stack is present (the shared data hold one
    micrograph's 242 particles of the STAR file's 2,374)."""
    blocks = read_star(star)
    particles = blocks["particles"]
    paths = np.array([parse_image_name(name).path for name in particles["rlnImageName"]])
    keep = np.array([(project / path).is_file() for path in paths])
    blocks["particles"] = Table.from_columns({label: values[keep] for label, values in particles.columns.items()})
    write_star(out, blocks)
    return out


def real_montage(threads: int, out: Path) -> dict[str, object]:
    if not REAL_STAR.is_file():
        return {"real_data": "absent"}
    project = REAL_DATA / "images" / "relion5_betagal_sppractice"
    with tempfile.TemporaryDirectory() as tmp:
        star = present_particles(REAL_STAR, project, Path(tmp) / "particles.star")
        start = time.perf_counter()
        result = run_class2d(
            star, Path(tmp) / "run",
            Class2DSettings(nr_classes=5, nr_iter=25, particle_diameter=200, psi_step=12, threads=threads),
            project_dir=project,
        )
        seconds = time.perf_counter() - start
    counts = np.bincount(result.state.class_index.numpy(), minlength=5)
    order = np.argsort(-counts)
    labels = [f"{k + 1}: {counts[k]}" for k in order]
    save_montage(out, result.classes[order], columns=5, labels=labels, scale=2)
    return {"real_wall_s": round(seconds, 1), "real_class_sizes": counts[order].tolist(), "real_resolution_A": round(result.model.current_resolution, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="400 particles, K=6, 4 iterations")
    parser.add_argument("--tutorial", action="store_true", help="10,000 particles, K=100, 25 iterations")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-real", action="store_true", help="skip the real-data montage")
    parser.add_argument("--max-iterations", type=int, default=0, help="with --tutorial: run only the first M iterations")
    args = parser.parse_args()
    n, classes, iterations = (400, 6, 4) if args.quick else (10000, 100, 25) if args.tutorial else (2000, 20, 10)
    planned = iterations
    partial = args.tutorial and 0 < args.max_iterations < iterations
    if partial:
        iterations = args.max_iterations
    box, pixel = 100, 3.54
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        star, truth, volume = simulated(work, n, box, pixel, seed=11)
        settings = Class2DSettings(
            nr_classes=classes, nr_iter=iterations, tau_fudge=2.0, particle_diameter=200.0, psi_step=10.0,
            offset_range=5.0, offset_step=2.0, oversampling=1, threads=args.threads,
        )
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            result, wall, cpu_iterations = pool.submit(classify, star, work / "Class2D" / "run", settings, work).result()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime  # includes the child's start-up (imports, reading images)
    peak_rss = usage.ru_maxrss / 2**20  # GiB (ru_maxrss is KiB)
    flops = sum(s.gemm_flops for s in result.iterations)
    gemm_seconds = sum(s.gemm_seconds for s in result.iterations)
    estep = sum(s.estep_seconds for s in result.iterations)
    figures: dict[str, object] = {
        "benchmark": "A2D-quick" if args.quick else ("tutorial-2D-partial" if partial else "tutorial-2D") if args.tutorial else "A2D",
        "particles": n, "classes": classes, "iterations": iterations, "threads": args.threads,
        "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "peak_rss_gib": round(peak_rss, 2),
        "estep_wall_s": round(estep, 1),
        "gemm_gflops": round(flops / gemm_seconds / 1e9, 1) if gemm_seconds else 0.0,
        "gemm_fraction_of_peak": round(flops / gemm_seconds / 1e9 / PEAK_GFLOPS, 2) if gemm_seconds else 0.0,
        "estep_effective_gflops": round(flops / estep / 1e9, 1) if estep else 0.0,
        "resolution_A": round(result.model.current_resolution, 1),
    }
    if partial:
        figures.update(extrapolation(result.iterations, cpu_iterations, box, planned))
    else:
        figures.update(accuracy(result, truth, volume, pixel))
    if not (args.quick or args.tutorial):
        figures.update({"relion_cpu_s": 890, "relion_resolution_A": 19.7, "relion_class_inplane_spread_deg": "3.3-4.1"})
    if not args.no_real:
        RESULTS.mkdir(exist_ok=True)
        figures.update(real_montage(args.threads, RESULTS / "class2d_real_montage.png"))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
