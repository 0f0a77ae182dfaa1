"""Benchmark: SGD initial model (InitialModel) from 3,000 simulated β-galactosidase particles, C1.

Data: PDB 5A1A potential (D2) at ``--pixel`` Å/px in a ``--box`` box (default 64 px at 5.53 Å/px:
the tutorial's 354 Å field of view, Nyquist 11 Å), uniformly random orientations, offsets up to
±2 px, CTF defocus 0.8–3 µm, white noise at ``--snr``. SGD in C1 from a random start with
``--ini/--between/--fin`` iterations, subsets ``--ini-subset`` → ``--fin-subset`` particles and
resolution limit 35 Å → ``--fin-resol``; HEALPix sampling 15° (30° coarse), offsets ±4 px in
steps of 1 px (2 px coarse): RELION's defaults (±6 px, 2 px at 3.54 Å/px) scaled to the pixel.

Accuracy against truth: the result is superposed on the true map allowing for rotation, mirror
(the hand is undetermined) and shift (:func:`vitreo.em.map_alignment.align_maps`; the truth's D2
axes need no special care: all rotations are searched), then the FSC with the truth gives the
resolution where it drops below 0.5. Acceptance (issue 9): FSC ≥ 0.5 to 25 Å.

Prints one JSON line; ``--write`` also writes benchmarks/results/initial_model.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from vitreo.em.fsc import fsc, resolution_at
from vitreo.em.map_alignment import align_maps, apply_alignment
from vitreo.ml.initial_model import InitialModelSettings, run_initial_model
from vitreo.ml.particles import load_particles
from vitreo.ml.sgd import SgdSchedule
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map

RESULTS = Path(__file__).resolve().parent / "results"
PEAK_GFLOPS = 190.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--box", type=int, default=64)
    parser.add_argument("--pixel", type=float, default=5.53)
    parser.add_argument("--snr", type=float, default=0.1)
    parser.add_argument("--ini", type=int, default=20)
    parser.add_argument("--between", type=int, default=40)
    parser.add_argument("--fin", type=int, default=20)
    parser.add_argument("--ini-subset", type=int, default=100)
    parser.add_argument("--fin-subset", type=int, default=300)
    parser.add_argument("--fin-resol", type=float, default=20.0)
    parser.add_argument("--offset-range", type=float, default=4.0, help="pixels")
    parser.add_argument("--offset-step", type=float, default=2.0, help="pixels, coarse (fine: half)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--halflife", type=float, default=1000.0,
                        help="sgd_sigma2fudge_halflife, particles (<= 0: off; the tutorial's value for difficult data)")
    parser.add_argument("--write", action="store_true", help="write benchmarks/results/initial_model.{json,md}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench_inimodel_") as scratch:
        work = Path(scratch)
        volume = torch.from_numpy(default_structure_map(args.pixel, args.box)).float()
        stack_settings = StackSettings(n_particles=args.n, defocus_min=8000, defocus_max=30000, snr=args.snr,
                                       max_origin=2.0)
        stack = simulate_particle_stack(volume, args.pixel, stack_settings, torch.Generator().manual_seed(1))
        star = write_particle_stack(stack, stack_settings, work, truth_columns=False)
        particles = load_particles(star, work)
        schedule = SgdSchedule(args.ini, args.between, args.fin, 35.0, args.fin_resol, args.ini_subset, args.fin_subset)
        settings = InitialModelSettings(schedule=schedule, write_iter=10, particle_diameter=220.0,
                                        offset_range=args.offset_range, offset_step=args.offset_step,
                                        random_seed=args.seed, sigma2fudge_halflife=args.halflife)
        wall, cpu = time.perf_counter(), time.process_time()
        result = run_initial_model(particles, work / "run", settings, log=lambda line: print(line, file=sys.stderr))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        found = torch.from_numpy(result.references[0])
        alignment = align_maps(volume, found, args.pixel, 20.0)
        curve = fsc(apply_alignment(found, alignment), volume)
        resolution = resolution_at(curve, 0.5, args.pixel, args.box)

    flops = sum(s.gemm_flops for s in result.iterations)
    gemm_seconds = sum(s.gemm_seconds for s in result.iterations)
    gflops = flops / gemm_seconds / 1e9 if gemm_seconds > 0 else 0.0
    figures = {
        "benchmark": "initial_model_sgd",
        "particles": args.n, "box": args.box, "pixel_A": args.pixel, "snr": args.snr, "symmetry": "C1",
        "iterations": schedule.n_iterations, "particles_processed": sum(schedule.subset_size(i) for i in
                                                                         range(1, schedule.n_iterations + 1)),
        "subset_sizes": [args.ini_subset, args.fin_subset], "resolution_limits_A": [35.0, args.fin_resol],
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "fsc05_vs_truth_A": round(resolution, 1), "acceptance_25A": bool(resolution <= 25.0),
        "handedness_flipped": alignment.flipped, "correlation_after_alignment": round(alignment.score, 3),
        "estep_gemm_gflops": round(gflops, 1), "estep_gemm_fraction_of_peak": round(gflops / PEAK_GFLOPS, 3),
        "threads": args.threads, "machine": "2 cores, no GPU",
        "date": datetime.date.today().isoformat(),
    }
    line = json.dumps(figures)
    print(line)
    if args.write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "initial_model.json").write_text(line + "\n", encoding="utf-8")
        (RESULTS / "initial_model.md").write_text(_markdown(figures, curve, args.pixel, args.box), encoding="utf-8")


def _markdown(f: dict, curve: torch.Tensor, pixel: float, box: int) -> str:
    shells = ", ".join(f"{box * pixel / i:.0f} Å: {float(curve[i]):.2f}" for i in range(2, len(curve), 2))
    return (
        f"### InitialModel (SGD), {f['date']}, {f['machine']}\n\n"
        f"{f['particles']} simulated betagal particles, box {f['box']} at {f['pixel_A']} Å/px, SNR {f['snr']}, C1, "
        f"random start; {f['iterations']} SGD iterations (subsets {f['subset_sizes'][0]}→{f['subset_sizes'][1]}, "
        f"resolution limit {f['resolution_limits_A'][0]:g}→{f['resolution_limits_A'][1]:g} Å, "
        f"{f['particles_processed']} particle-alignments), {f['threads']} threads.\n\n"
        "| wall (s) | CPU (s) | peak RSS (MiB) | FSC 0.5 vs truth | ≤ 25 Å | hand flipped | E-step GEMM GFLOP/s (of 190) |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| {f['wall_s']} | {f['cpu_s']} | {f['peak_rss_mb']} | {f['fsc05_vs_truth_A']} Å | {f['acceptance_25A']} | "
        f"{f['handedness_flipped']} | {f['estep_gemm_gflops']} ({f['estep_gemm_fraction_of_peak']:.1%}) |\n\n"
        f"FSC against the truth after superposition (rotation, mirror, shift): {shells}.\n"
    )


if __name__ == "__main__":
    main()
