"""Benchmark: motion correction of ``vitreo simulate --preset tutorial`` movies (2048² × 16 frames, 3.54 Å/px).

Prints one JSON line: seconds per movie (RELION's defaults: B-factor 150 px², 5 × 5 patches,
dose weighting, power spectrum; reading included, writing excluded; wall and CPU time, the
latter being about threads × wall on an idle machine) and the accuracy against
the simulation's truth: RMS global-drift error per frame, RMS error of the whole motion field
(global + local on a 9 × 9 grid, all frames), and the power kept at 8 Å by the estimated
motion relative to the true motion, measured on the noise-free twin of each movie (the signal).

    python benchmarks/bench_motioncorr.py [--micrographs 4] [--bfactor 150] [--threads 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vitreo.em.fourier import rfft_radius
from vitreo.io.mrc import read_mrc
from vitreo.io.star import read_star
from vitreo.preprocess.motion_correction import MotionSettings, correct_movie
from vitreo.em.motion_polynomial import PolynomialMotion
from vitreo.preprocess.movie_frames import DetectorCorrection
from vitreo.preprocess.summation import motion_corrected_sum
from vitreo.simulate import preset, simulate_dataset
from vitreo.simulate.motion import MotionModel


def shell_power(image: torch.Tensor, pixel: float, resolution: float) -> float:
    k = rfft_radius(tuple(image.shape)) / pixel
    shell = (k > 1 / resolution - 0.005) & (k < 1 / resolution + 0.005)
    return float(torch.fft.rfft2(image - image.mean()).abs().square()[shell].sum())


def truth_motion(root: Path, name: str, size: tuple[int, int]) -> MotionModel:
    blocks = read_star(root / "truth" / "motion" / f"{name}.star")
    g = blocks["global_shift"]
    shifts = np.stack([g["rlnMicrographShiftX"], g["rlnMicrographShiftY"]], axis=1)
    local = blocks.get("local_motion_model")
    return MotionModel(shifts, np.asarray(local["rlnMotionModelCoeff"]) if local is not None else np.zeros(36), size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micrographs", type=int, default=4)
    parser.add_argument("--bfactor", type=float, default=150.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep (or reuse) the simulated data in")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_motioncorr_"))
    noisy, clean = base / "tutorial", base / "tutorial_clean"
    try:
        for folder, shot_noise in ((noisy, True), (clean, False)):
            if not (folder / "truth").exists():
                simulate_dataset(folder, preset("tutorial", n_micrographs=args.micrographs, shot_noise=shot_noise))
        config = preset("tutorial")
        pixel = config.pixel_size
        settings = MotionSettings(pixel_size=pixel, voltage=config.voltage, dose_per_frame=config.dose_per_frame,
                                  bfactor=args.bfactor, ps_grouping=4)
        times, cpu_times, global_errors, field_errors, fitted_errors, kept, local_used, per_movie = [], [], [], [], [], [], 0, []
        movies = sorted((noisy / "Micrographs").glob("*_movie.mrcs"))[: args.micrographs]
        correct_movie(movies[0], settings, DetectorCorrection())  # warm-up (first-call overheads)
        for movie in movies:
            start, cpu_start = time.perf_counter(), time.process_time()
            result = correct_movie(movie, settings, DetectorCorrection())
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
            ny, nx = result.frames.shape
            truth = truth_motion(noisy, movie.name.replace("_movie.mrcs", ""), (nx, ny))
            global_errors.append(float(np.mean(np.sum((result.global_shifts - truth.global_shifts) ** 2, axis=1))))
            gx, gy = np.meshgrid(np.linspace(0, nx - 1, 9), np.linspace(0, ny - 1, 9))
            estimate = result.global_shifts[:, None, :]
            if result.local is not None:
                local_used += 1
                estimate = estimate + result.local.model.shifts(gx.ravel(), gy.ravel(), np.arange(truth.n_frames))
            true_field = truth.shifts(gx.ravel(), gy.ravel())
            field_errors.append(float(np.mean(np.sum((estimate - true_field) ** 2, -1))))
            if result.fit is not None:  # the fitted model, used or not
                fitted = result.global_shifts[:, None, :] + result.fit.model.shifts(gx.ravel(), gy.ravel(),
                                                                                   np.arange(truth.n_frames))
                fitted_errors.append(float(np.mean(np.sum((fitted - true_field) ** 2, -1))))
            frames = torch.as_tensor(read_mrc(clean / "Micrographs" / movie.name)[0])
            reference = motion_corrected_sum(frames, torch.as_tensor(truth.global_shifts, dtype=torch.float32),
                                             PolynomialMotion(truth.local_coefficients, truth.size))
            ours = motion_corrected_sum(frames, torch.as_tensor(result.global_shifts, dtype=torch.float32),
                                        result.local.model if result.local is not None else None)
            kept.append(shell_power(ours, pixel, 8.0) / shell_power(reference, pixel, 8.0))
            per_movie.append({"power_kept_8A": round(kept[-1], 3), "global_rms_px": round(global_errors[-1] ** 0.5, 3),
                              "field_rms_px": round(field_errors[-1] ** 0.5, 3),
                              "local_p_value": None if result.local is None else float(f"{result.local.p_value:.3g}")})
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps({
        "benchmark": "motioncorr", "preset": "tutorial", "movies": len(times), "size": "2048x2048", "frames": 16,
        "threads": args.threads, "bfactor": args.bfactor, "patches": "5x5",
        "s_per_movie": round(statistics.median(times), 2), "s_per_movie_max": round(max(times), 2),
        "cpu_s_per_movie": round(statistics.median(cpu_times), 2),
        "global_rms_error_px": round(float(np.sqrt(np.mean(global_errors))), 3),
        "field_rms_error_px": round(float(np.sqrt(np.mean(field_errors))), 3),
        "fitted_field_rms_error_px": round(float(np.sqrt(np.mean(fitted_errors))), 3) if fitted_errors else None,
        "local_models_used": local_used,
        "power_kept_8A_median": round(statistics.median(kept), 3), "power_kept_8A_min": round(min(kept), 3),
        "per_movie": per_movie,
    }))


if __name__ == "__main__":
    main()
