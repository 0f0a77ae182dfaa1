"""Movie refinement and polishing: accuracy against simulated truth, and speed and memory on a 4k
movie; one JSON line.

Motion (``tiny`` physics: 4.5 Å/px, 64-px boxes, 16 frames of 1 e/Å², large drift): the movies
are used unaligned, so each particle's true track is the whole simulated motion. A "finished
auto-refine" is made from the truth (true angles, offsets averaged over the frames, the true map
as both half-maps). MovieRefine, then Polish with straight-line fits and with Bayesian
polishing. Figures: RMS track error against truth (per-frame measured, line fits, Bayesian);
the resolution (FSC 0.5 against the true map) of reconstructions at the true angles from shiny
and unpolished particles (the frames summed at the refined offset); and a gold-standard 3D
auto-refine (Refine3D from a 40 Å low-pass of the true map, not on absolute greyscale, D2,
HEALPix order 1 with local searches from order 3, at most 20 iterations) of the unpolished and
the shiny particles: their gold-standard resolutions, FSC 0.5 against the truth, and whether
the shiny particles are never worse by more than one Fourier shell.

Per-frame B-factors (16 movies of 1024², 4,000 particles, 8 frames of 4 e/Å²; the true tracks,
so only the damage differs between frames): Polish's relative B-factors, single frames and
3-frame averages, against those the simulated damage (Grant & Grigorieff) implies over the same
shells; their Spearman correlation with the frame number.

Speed: one 4096² movie of 40 frames (Poisson noise, 2,000 particle positions, 100-px boxes,
a random reference) through MovieRefine and Polish (lines; Bayesian), each in its own process
so that its peak memory is its own.

Usage: python benchmarks/bench_polish.py [--micrographs 4] [--particles 80] [--skip-4k | --only-4k]
       [--skip-refine] [--skip-bfactors]
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

import numpy as np
import torch
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulated_data import peak_rss_mb  # noqa: E402

from tests.picking.job_runner import run_job  # noqa: E402
from tests.polish.datasets import (DOSE_MOVIES, MASK, MOVIES, REFINE, TRUE_MOVIE_DATA, frame_bfactors,  # noqa: E402
                                   make_project, write_true_movie_particles)
from vitreo.em.backprojector import BackProjector  # noqa: E402
from vitreo.em.filters import lowpass  # noqa: E402
from vitreo.em.fsc import first_shell_below, fsc, resolution_at  # noqa: E402
from vitreo.io.image_refs import format_image_names  # noqa: E402
from vitreo.io.mrc import read_mrc, write_mrc  # noqa: E402
from vitreo.io.star import Table, read_star, write_star  # noqa: E402
from vitreo.jobs import movierefine_job, polish_job  # noqa: E402
from vitreo.ml.aligned import load_aligned_particles  # noqa: E402
from vitreo.ml.reconstruct import insert_particles  # noqa: E402
from vitreo.ml.refine3d import Refine3DSettings, run_refine3d  # noqa: E402
from vitreo.polish.movie_particles import read_movie_particles  # noqa: E402
from vitreo.polish.shiny import shiny_images  # noqa: E402
from vitreo.polish.tracks import track_rms  # noqa: E402

MOVIE_STAR = "MovieRefine/job004/run_avg5_off2_data.star"


def resolution(particles, truth_map: torch.Tensor, pixel: float) -> float:
    """Å at which the FSC of the particles' reconstruction against the true map drops below 0.5."""
    backprojector = BackProjector(particles.box)
    insert_particles(backprojector, particles)
    curve = fsc(backprojector.reconstruct(method="division"), truth_map)
    return particles.box * pixel / first_shell_below(curve, 0.5)


def write_unpolished(data: polish_job.MovieInput, box: int, shiny_star: str, target: str) -> None:
    """The particles without polishing (every frame summed at the refined offset), as ``target``
    (a STAR file like ``shiny_star`` and its stack beside it)."""
    frames = torch.cat([read_movie_particles(s, data.stack_index[data.stacks == s], len(data.movie.numbers))
                        for s in np.unique(data.stacks)])
    priors = torch.from_numpy(data.movie.priors())
    images = shiny_images(frames, priors[:, None].expand(-1, frames.shape[1], 2), priors, None, int(0.375 * box))
    stack = str(Path(target).with_suffix(".mrcs"))
    Path(stack).parent.mkdir(parents=True, exist_ok=True)
    write_mrc(stack, images.numpy(), data.pixel, is_stack=True)
    blocks = read_star(shiny_star)
    table = blocks["particles"]
    table["rlnImageName"] = format_image_names(np.arange(len(table)), np.full(len(table), stack, dtype=object))
    write_star(target, blocks)


def refine(star: str, truth_map: torch.Tensor, pixel: float, prefix: str, threads: int) -> dict:
    """Gold-standard auto-refine of ``star`` from a 40 Å low-pass of the true map: its figures."""
    reference = Path(prefix).parent / "reference.mrc"
    reference.parent.mkdir(parents=True, exist_ok=True)
    write_mrc(reference, lowpass(truth_map.double(), 40.0, pixel, ndim=3).float().numpy(), pixel)
    settings = Refine3DSettings(ini_high=40.0, symmetry="D2", healpix_order=1, local_healpix_order=3,
                                offset_range=5.0, offset_step=2.0, particle_diameter=260.0, threads=threads,
                                max_iter=20, absolute_greyscale=False)  # the map is in volts, not the images' scale
    start = time.time()
    lines: list[str] = []
    result = run_refine3d(star, reference, prefix, settings, project_dir=".", log=lines.append)
    box = truth_map.shape[-1]
    return {"gold_standard_A": round(result.resolution, 2),
            "gold_standard_shell": int(first_shell_below(result.fsc, 0.143)) - 1,
            "fsc_0.5_vs_truth_A": round(resolution_at(fsc(result.map, truth_map), 0.5, pixel, box), 2),
            "iterations": len(result.iterations) + 1,
            "converged": any("has converged" in line for line in lines), "wall_s": round(time.time() - start, 1)}


def motion_accuracy(args: argparse.Namespace, folder: Path) -> dict:
    start = time.time()
    project = make_project(folder, n_frames=16, n_micrographs=args.micrographs, micrograph_size=(1024, 1024),
                           particles_per_micrograph=args.particles, drift=40.0)
    figures: dict = {"simulate_s": round(time.time() - start, 1), "particles": len(project.true_offsets)}
    here = os.getcwd()
    os.chdir(project.root)
    truth_map = torch.from_numpy(read_mrc(REFINE + "_class001.mrc")[0])
    start = time.time()
    run_job(movierefine_job.job_spec(), {"fn_cont": REFINE + "_data.star", "fn_movie_star": MOVIES,
                                         "extract_size": str(project.box), "movie_runavg_window": "5",
                                         "movie_sigma_offset": "2"}, "MovieRefine/job004/")
    figures["movierefine_s"] = round(time.time() - start, 1)
    data = polish_job.MovieInput(MOVIE_STAR)
    truth = project.true_offsets
    figures["true_track_rms_px"] = round(track_rms(np.zeros_like(truth), truth), 3)
    figures["measured_track_rms_px"] = round(track_rms(data.movie.offsets(), truth), 3)
    runs = {"line": {"do_bfactor_weighting": "No"},
            "bayesian": {"do_bayesian_polish": "Yes", "fn_post": REFINE + "_half1_class001_unfil.mrc",
                         "sigma_vel": "1.0"}}
    for name, extra in runs.items():
        start = time.time()
        job = f"Polish/{name}/"
        run_job(polish_job.job_spec(), {"fn_in": MOVIE_STAR, "sigma_nb": "300", **extra}, job)
        figures[f"polish_{name}_s"] = round(time.time() - start, 1)
        fit = read_star(job + "fitted_tracks.star")["particles"]
        fitted = np.stack([np.asarray(fit[label])[data.movie.index] for label in ("rlnOriginXAngst",
                                                                                   "rlnOriginYAngst")], -1)
        figures[f"{name}_track_rms_px"] = round(track_rms(fitted / data.pixel, truth), 3)
        figures[f"{name}_shiny_resolution_A"] = round(resolution(load_aligned_particles(job + "shiny.star"),
                                                                 truth_map, data.pixel), 2)
    write_unpolished(data, project.box, "Polish/line/shiny.star", "Unpolished/particles.star")
    figures["unpolished_resolution_A"] = round(resolution(load_aligned_particles("Unpolished/particles.star"),
                                                          truth_map, data.pixel), 2)
    if not args.skip_refine:
        stars = {"unpolished": "Unpolished/particles.star", "bayesian": "Polish/bayesian/shiny.star",
                 "line": "Polish/line/shiny.star"}
        for name, star in stars.items():
            figures[f"refine3d_{name}"] = refine(star, truth_map, data.pixel, f"Refine3D/{name}/run", args.threads)
        before = figures["refine3d_unpolished"]["gold_standard_shell"]
        figures["refine3d_never_worse_by_more_than_one_shell"] = all(
            figures[f"refine3d_{name}"]["gold_standard_shell"] >= before - 1 for name in ("bayesian", "line"))
    figures["accuracy_peak_rss_mb"] = peak_rss_mb()
    os.chdir(here)
    return figures


def bfactor_accuracy(folder: Path) -> dict:
    """Relative per-frame B-factors on the dose movies against the simulated damage."""
    start = time.time()
    project = make_project(folder, **DOSE_MOVIES)
    write_true_movie_particles(project, TRUE_MOVIE_DATA)
    figures: dict = {"bfactor_movies_s": round(time.time() - start, 1), "bfactor_particles": len(project.true_offsets)}
    here = os.getcwd()
    os.chdir(project.root)
    for average in (1, 3):
        job = f"Polish/bfactors_avg{average}/"
        start = time.time()
        run_job(polish_job.job_spec(), {"fn_in": TRUE_MOVIE_DATA, "fn_mask": MASK, "do_fit_movement": "No",
                                        "average_frame_bfactor": str(average)}, job)
        result = frame_bfactors(job, average, DOSE_MOVIES["dose_per_frame"])
        found, expected, every = result.found, result.expected, np.concatenate(result.s2)
        figures[f"bfactors_avg{average}"] = {
            "polish_s": round(time.time() - start, 1), "found": found.round(1).tolist(),
            "expected": expected.round(1).tolist(), "shells_fitted": [len(s2) for s2 in result.s2],
            "fit_range_A": [round(float(1 / np.sqrt(every.max())), 1), round(float(1 / np.sqrt(every.min())), 1)],
            "spearman_vs_frame": round(float(spearmanr(result.numbers, found).correlation), 3),
            "rms_error": round(float(np.sqrt(np.mean((found - expected) ** 2))), 1)}
    os.chdir(here)
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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-4k", action="store_true")
    parser.add_argument("--only-4k", action="store_true")
    parser.add_argument("--skip-refine", action="store_true", help="no Refine3D of shiny and unpolished particles")
    parser.add_argument("--skip-bfactors", action="store_true", help="no per-frame B-factors on the dose movies")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    if args.step:
        print(json.dumps(run_4k_step(args.step, Path(args.folder))))
        return
    figures: dict = {"benchmark": "polish", "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(prefix="vitreo-bench-polish-") as tmp:
        if not args.only_4k:
            figures.update(motion_accuracy(args, Path(tmp) / "motion"))
            print(json.dumps(figures), file=sys.stderr)  # partial figures, in case a later stage fails
            if not args.skip_bfactors:
                figures.update(bfactor_accuracy(Path(tmp) / "bfactors"))
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
