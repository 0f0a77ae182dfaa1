"""Movie refinement and polishing: accuracy against simulated truth, and speed and memory on a 4k
movie; one JSON line.

Accuracy (``tiny`` physics: 4.5 Å/px, 64-px boxes, 16 frames, large drift, dose damage): the
movies are used unaligned, so each particle's true track is the whole simulated motion. A
"finished auto-refine" is made from the truth (true angles, offsets averaged over the frames,
the true map as both half-maps). MovieRefine, then Polish with straight-line fits and per-frame
B-factors, and Bayesian polishing. Figures: RMS track error against truth (per-frame measured,
line fits, Bayesian), the per-frame B-factors against those the simulated damage implies (a
relative Guinier fit of the Grant & Grigorieff attenuation over the same shells), and the
resolution (FSC 0.5 against the true map) of reconstructions from shiny and unpolished particles.

Speed: one 4096² movie of 40 frames (Poisson noise, 2,000 particle positions, 100-px boxes,
a random reference) through MovieRefine and Polish (lines; Bayesian), each in its own process
so that its peak memory is its own.

Usage: python benchmarks/bench_polish.py [--micrographs 4] [--particles 80] [--skip-4k | --only-4k]
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
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulated_data import peak_rss_mb  # noqa: E402

from tests.picking.job_runner import run_job  # noqa: E402
from tests.polish.datasets import MASK, MOVIES, REFINE, make_project  # noqa: E402
from vitreo.em.backprojector import BackProjector  # noqa: E402
from vitreo.em.dose import frame_damage  # noqa: E402
from vitreo.em.fsc import first_shell_below, fsc  # noqa: E402
from vitreo.io.mrc import read_mrc, write_mrc  # noqa: E402
from vitreo.io.star import Table, read_star, write_star  # noqa: E402
from vitreo.jobs import movierefine_job, polish_job  # noqa: E402
from vitreo.ml.aligned import load_aligned_particles  # noqa: E402
from vitreo.ml.reconstruct import insert_particles  # noqa: E402
from vitreo.polish.movie_particles import read_movie_particles  # noqa: E402
from vitreo.polish.shiny import shiny_images  # noqa: E402
from vitreo.polish.tracks import track_rms  # noqa: E402


def resolution(particles, truth_map: torch.Tensor, pixel: float) -> float:
    """Å at which the FSC of the particles' reconstruction against the true map drops below 0.5."""
    backprojector = BackProjector(particles.box)
    insert_particles(backprojector, particles)
    curve = fsc(backprojector.reconstruct(method="division"), truth_map)
    return particles.box * pixel / first_shell_below(curve, 0.5)


def expected_bfactors(numbers: np.ndarray, dose: float, box: int, pixel: float, lowres: float, highres: float
                      ) -> np.ndarray:
    """Relative B-factors the simulated damage implies: Guinier fits of ln(D_g/mean D) against s²."""
    s = torch.arange(1, box // 2 + 1, dtype=torch.float64) / (box * pixel)
    use = (1 / s < lowres) & (1 / s > highres)
    damage = torch.stack([frame_damage(s, (n - 1) * dose, n * dose) for n in numbers])
    ratio = torch.log(damage / damage.mean(0))
    return np.array([4 * np.polyfit(s[use].numpy() ** 2, r[use].numpy(), 1)[0] for r in ratio])


def accuracy(args: argparse.Namespace, folder: Path) -> dict:
    start = time.time()
    project = make_project(folder, n_frames=16, n_micrographs=args.micrographs, micrograph_size=(1024, 1024),
                           particles_per_micrograph=args.particles, drift=40.0)
    figures: dict = {"simulate_s": round(time.time() - start, 1), "particles": len(project.true_offsets)}
    os.chdir(project.root)
    truth_map = torch.from_numpy(read_mrc(REFINE + "_class001.mrc")[0])
    start = time.time()
    run_job(movierefine_job.job_spec(), {"fn_cont": REFINE + "_data.star", "fn_movie_star": MOVIES,
                                         "extract_size": str(project.box), "movie_runavg_window": "5",
                                         "movie_sigma_offset": "2"}, "MovieRefine/job004/")
    figures["movierefine_s"] = round(time.time() - start, 1)
    star = "MovieRefine/job004/run_avg5_off2_data.star"
    data = polish_job.MovieInput(star)
    truth = project.true_offsets
    figures["true_track_rms_px"] = round(track_rms(np.zeros_like(truth), truth), 3)
    figures["measured_track_rms_px"] = round(track_rms(data.movie.offsets(), truth), 3)
    runs = {"line": {"fn_mask": MASK, "average_frame_bfactor": str(args.average), "perframe_bfac_lowres":
                     str(args.lowres), "perframe_highres": str(args.highres)},
            "bayesian": {"do_bayesian_polish": "Yes", "fn_post": REFINE + "_half1_class001_unfil.mrc",
                         "sigma_vel": "1.0"}}
    for name, extra in runs.items():
        start = time.time()
        job = f"Polish/{name}/"
        try:
            run_job(polish_job.job_spec(), {"fn_in": star, "sigma_nb": "300", **extra}, job)
        except Exception as err:  # B-factors undefined (NaN): record and polish without them
            figures[f"{name}_error"] = str(err)
            run_job(polish_job.job_spec(), {"fn_in": star, "sigma_nb": "300", **extra,
                                            "do_bfactor_weighting": "No"}, job)
        figures[f"polish_{name}_s"] = round(time.time() - start, 1)
        fit = read_star(job + "fitted_tracks.star")["particles"]
        fitted = np.stack([np.asarray(fit[label])[data.movie.index] for label in ("rlnOriginXAngst",
                                                                                   "rlnOriginYAngst")], -1)
        figures[f"{name}_track_rms_px"] = round(track_rms(fitted / data.pixel, truth), 3)
        figures[f"{name}_shiny_resolution_A"] = round(resolution(load_aligned_particles(job + "shiny.star"),
                                                                 truth_map, data.pixel), 2)
        if Path(job + "bfactors.star").is_file():
            table = read_star(job + "bfactors.star")["perframe_bfactors"]
            found = np.asarray(table["rlnBfactorUsedForSharpening"], float)
            expected = expected_bfactors(data.movie.numbers, 1.0, project.box, data.pixel, args.lowres, args.highres)
            figures["bfactors_found"] = found.round(1).tolist()
            figures["bfactors_expected"] = expected.round(1).tolist()
            figures["bfactor_slope_per_frame"] = round(float(np.polyfit(data.movie.numbers, found, 1)[0]), 2)
    frames = torch.cat([read_movie_particles(s, data.stack_index[data.stacks == s], len(data.movie.numbers))
                        for s in np.unique(data.stacks)])
    priors = torch.from_numpy(data.movie.priors())
    unpolished = shiny_images(frames, priors[:, None].expand(-1, frames.shape[1], 2), priors, None,
                              int(0.375 * project.box))
    shiny = load_aligned_particles("Polish/line/shiny.star")
    figures["unpolished_resolution_A"] = round(resolution(replace(shiny, images=unpolished), truth_map, data.pixel), 2)
    figures["accuracy_peak_rss_mb"] = peak_rss_mb()
    return figures


def make_4k(folder: Path, particles: int = 2000, frames: int = 40, box: int = 100) -> None:
    """A 4096² × 40 movie of Poisson counts, particle positions, a random reference and a project."""
    rng = np.random.default_rng(0)
    (folder / "Micrographs").mkdir(parents=True)
    movie = folder / "Micrographs" / "big_movie.mrcs"
    import mrcfile
    with mrcfile.new_mmap(str(movie), shape=(frames, 4096, 4096), mrc_mode=0, overwrite=True) as mrc:
        for f in range(frames):
            mrc.data[f] = rng.poisson(2.0, size=(4096, 4096)).astype(np.int8)
    xy = rng.uniform(box, 4096 - box, size=(particles, 2))
    n = particles
    particles_table = Table({"rlnMicrographName": ["Micrographs/big.mrc"] * n, "rlnCoordinateX": np.rint(xy[:, 0]),
                             "rlnCoordinateY": np.rint(xy[:, 1]), "rlnAngleRot": rng.uniform(-180, 180, n),
                             "rlnAngleTilt": rng.uniform(0, 180, n), "rlnAnglePsi": rng.uniform(-180, 180, n),
                             "rlnOriginXAngst": np.zeros(n), "rlnOriginYAngst": np.zeros(n),
                             "rlnDefocusU": np.full(n, 15000.0), "rlnDefocusV": np.full(n, 15000.0),
                             "rlnDefocusAngle": np.zeros(n), "rlnOpticsGroup": np.ones(n, np.int64),
                             "rlnRandomSubset": np.arange(n) % 2 + 1})
    optics = Table({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1], "rlnVoltage": [300.0],
                    "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1], "rlnImagePixelSize": [1.0],
                    "rlnImageSize": [box], "rlnImageDimensionality": [2], "rlnMicrographPixelSize": [1.0]})
    (folder / "Refine3D").mkdir()
    write_star(folder / "Refine3D" / "run_data.star", {"optics": optics, "particles": particles_table})
    volume = torch.nn.functional.avg_pool3d(torch.randn(1, 1, box, box, box), 5, 1, 2)[0, 0].numpy()
    for name in ("run_half1_class001_unfil.mrc", "run_half2_class001_unfil.mrc"):
        write_mrc(folder / "Refine3D" / name, volume, 1.0)
    write_star(folder / "movies.star", {"optics": optics, "movies": Table({
        "rlnMicrographMovieName": [str(movie.relative_to(folder))], "rlnMicrographName": ["Micrographs/big.mrc"],
        "rlnOpticsGroup": [1]})})


def run_4k_step(step: str, folder: Path) -> dict:
    """One step on the 4k project, in this process."""
    os.chdir(folder)
    torch.set_num_threads(2)
    start = time.time()
    if step == "movierefine":
        run_job(movierefine_job.job_spec(), {"fn_cont": "Refine3D/run_data.star", "fn_movie_star": "movies.star",
                                             "extract_size": "100", "do_invert": "No"}, "MovieRefine/job001/")
    else:
        extra = {"do_bayesian_polish": "Yes", "fn_post": "Refine3D/run_half1_class001_unfil.mrc"} \
            if step == "bayesian" else {"do_bfactor_weighting": "No"}
        run_job(polish_job.job_spec(), {"fn_in": "MovieRefine/job001/run_avg5_off1_data.star", **extra},
                f"Polish/{step}/")
    return {f"4k_{step}_s": round(time.time() - start, 1), f"4k_{step}_peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micrographs", type=int, default=4)
    parser.add_argument("--particles", type=int, default=80)
    parser.add_argument("--average", type=int, default=3, help="frames averaged for the B-factors (odd)")
    parser.add_argument("--lowres", type=float, default=20.0)
    parser.add_argument("--highres", type=float, default=9.0)
    parser.add_argument("--skip-4k", action="store_true")
    parser.add_argument("--only-4k", action="store_true")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.step:
        print(json.dumps(run_4k_step(args.step, Path(args.folder))))
        return
    figures: dict = {"benchmark": "polish", "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(prefix="vitreo-bench-polish-") as tmp:
        if not args.only_4k:
            figures.update(accuracy(args, Path(tmp) / "accuracy"))
        if not args.skip_4k:
            folder = Path(tmp) / "big"
            start = time.time()
            make_4k(folder)
            figures["4k_make_s"] = round(time.time() - start, 1)
            for step in ("movierefine", "line", "bayesian"):
                out = subprocess.run([sys.executable, __file__, "--step", step, "--folder", str(folder)],
                                     capture_output=True, text=True, check=True)
                figures.update(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
