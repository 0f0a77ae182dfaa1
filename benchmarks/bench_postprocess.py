"""Post-processing of a 256³ map and RELION-style local resolution of a 128³ map: wall time, peak memory and
accuracy against the analytic truth; one JSON line per workload.

The half-maps are a pseudo-atomic map (point atoms in a sphere, blurred by B = 150 Å²) plus independent noise
whose spectral SNR puts the expected FSC = 0.143 at a chosen resolution (tests/post/synthetic.py), so the
expected unmasked and mask-corrected FSCs and the B-factor are known exactly.

- ``postprocess``: the PostProcess job end to end (read the half-maps and mask, FSCs, phase randomisation,
  auto-B, sharpening, write postprocess.mrc/_masked.mrc/.star/logfile.pdf), box 256 at 1.0 Å/px, and the core
  computation alone. Accuracy: resolution shell against the analytic corrected FSC, B-factor against −150.
- ``localres``: local_resolution() on box 128 at 1.5 Å/px (RELION's defaults: 25 Å sampling, 12.5 Å spheres,
  25 Å edges), half-maps with 9× more noise power on the +x side. Accuracy: median local resolution on each side.

Each workload runs in its own process (peak memory is its own). CPU seconds (all threads) are reported
beside wall seconds: on a shared machine (``load_average`` above the thread count) the wall time is
inflated, and CPU/threads is the better estimate of the wall time on an idle machine.

Usage: python benchmarks/bench_postprocess.py [--threads 2] [--only postprocess|localres]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.post.synthetic

from tests.post.synthetic import expected_fsc, gaussian_snr, noisy_halves, pseudo_atomic_map  # noqa: E402
from vitreo.em.fsc import first_shell_below  # noqa: E402
from vitreo.em.masks import soft_spherical_mask  # noqa: E402

B_TRUE = 150.0


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def bench_postprocess(threads: int) -> dict:
    from tests.picking.job_runner import run_job
    from vitreo.io.mrc import write_mrc
    from vitreo.io.star import read_star
    from vitreo.jobs.postprocess_job import job_spec
    from vitreo.post.postprocess import postprocess

    box, pixel, resolution = 256, 1.0, 3.0
    truth = pseudo_atomic_map(box, pixel, 70, B_TRUE)
    snr = gaussian_snr(50, resolution)
    half1, half2 = noisy_halves(truth, pixel, snr)
    mask = soft_spherical_mask((box,) * 3, 80, 8)
    torch.set_num_threads(threads)
    start, cpu = time.perf_counter(), time.process_time()
    result = postprocess(half1, half2, mask, pixel)
    core_s, core_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as root:
        for name, volume in (("half1", half1), ("half2", half2), ("mask", mask)):
            write_mrc(Path(root) / f"run_{name}_unfil.mrc", volume.numpy(), pixel)
        params = {"fn_in": f"{root}/run_half1_unfil.mrc", "fn_mask": f"{root}/run_mask_unfil.mrc",
                  "nr_threads": str(threads)}
        start, cpu = time.perf_counter(), time.process_time()
        job = run_job(job_spec(), params, f"{root}/PostProcess/job001", log=logging.getLogger("bench"))
        job_s, job_cpu_s = time.perf_counter() - start, time.process_time() - cpu
        general = read_star(job / "postprocess.star")["general"]
    mean_square = float(mask.square().mean())
    expected = expected_fsc(lambda s: snr(s) / mean_square, box, pixel)
    expected_shell = first_shell_below(expected, 0.143) - 1
    found_shell = round(box * pixel / general["rlnFinalResolution"])
    return {"workload": "postprocess", "box": box, "pixel_A": pixel, "threads": threads,
            "job_s": round(job_s, 2), "job_cpu_s": round(job_cpu_s, 2), "core_s": round(core_s, 2),
            "core_cpu_s": round(core_cpu_s, 2), "load_average": round(os.getloadavg()[0], 1),
            "resolution_A": round(general["rlnFinalResolution"], 3),
            "expected_resolution_A": round(box * pixel / expected_shell, 3),
            "resolution_shell_error": found_shell - expected_shell,
            "bfactor": round(general["rlnBfactorUsedForSharpening"], 1), "true_bfactor": -B_TRUE,
            "bfactor_error_pct": round(100 * abs(general["rlnBfactorUsedForSharpening"] + B_TRUE) / B_TRUE, 1),
            "max_abs_random_fsc_beyond": round(float(abs(result.fsc_random_masked[result.randomise_from_shell + 2:])
                                                     .max()), 3),
            "peak_rss_MB": round(_peak_rss_mb())}


def bench_localres(threads: int) -> dict:
    from vitreo.post.local_resolution import local_resolution

    box, pixel = 128, 1.5
    truth = pseudo_atomic_map(box, pixel, 48, B_TRUE)
    x = torch.arange(box) - box // 2
    envelope = torch.where(x > 0, 3.0, 1.0).expand(box, box, box)
    half1, half2 = noisy_halves(truth, pixel, gaussian_snr(50, 4.0), envelope=envelope)
    torch.set_num_threads(threads)
    start, cpu = time.perf_counter(), time.process_time()
    result = local_resolution(half1, half2, pixel)
    wall, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    side = result.positions[:, 2] - box // 2
    return {"workload": "localres", "box": box, "pixel_A": pixel, "threads": threads, "positions": len(side),
            "wall_s": round(wall, 2), "cpu_s": round(cpu_s, 2), "load_average": round(os.getloadavg()[0], 1),
            "median_resolution_quiet_side_A": round(float(result.resolutions[side < -4].median()), 2),
            "median_resolution_noisy_side_A": round(float(result.resolutions[side > 4].median()), 2),
            "peak_rss_MB": round(_peak_rss_mb())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["postprocess", "localres"])
    args = parser.parse_args()
    if args.only:
        run = bench_postprocess if args.only == "postprocess" else bench_localres
        print(json.dumps(run(args.threads)), flush=True)
        return
    for workload in ("postprocess", "localres"):
        subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--only", workload], check=True)


if __name__ == "__main__":
    main()
