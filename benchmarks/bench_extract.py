"""Particle extraction on a simulated dataset: particles per second and accuracy against truth; one JSON line.

The Extract job cuts every true particle at its true coordinate (box 100, float16 stacks, RELION's
normalisation and contrast inversion), with one and with two worker processes. Accuracy: each
particle's centre, found by cross-correlating it with the CTF-affected projection of the true map
in its true orientation, against where the truth's origins put it (box centre − origin); and the
mean and standard deviation of each particle's background after normalisation (float16 stacks).
Boxes under opaque ice contamination hold no electrons and cannot be normalised; they are counted
as blank and left out of the accuracy figures.

Usage: python benchmarks/bench_extract.py [--preset tutorial] [--data DIR] [--micrographs N]
``--data`` reuses a dataset made with `vitreo simulate --micrographs-only`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from vitreo.em.ctf import CtfParams, ctf_2d
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.em.normalise import background_mask, default_bg_radius
from vitreo.em.projector import Projector
from vitreo.io.coords import write_coordinates
from vitreo.io.image_refs import read_images
from vitreo.io.mrc import read_mrc
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs.context import JobContext
from vitreo.jobs.extract import job_spec
from vitreo.jobs.progress import ProgressReporter
from vitreo.picking.coordinate_sets import write_coordinate_index
from vitreo.picking.peaks import subpixel_offsets

from simulated_data import peak_rss_mb, scratch_dataset, truth_particles

BOX = 100
WINDOW = 6  # px searched around the box centre for a particle's centre


def true_coordinates(root: Path, micrographs: int) -> tuple[dict, list[str]]:
    """Truth columns, and an index of coordinate files (true particles) for the first micrographs."""
    columns, _ = truth_particles(root)
    names = list(dict.fromkeys(columns["rlnMicrographName"]))[: micrographs or None]
    files = {}
    for name in names:
        rows = (columns["rlnMicrographName"] == name) & (columns["rlnVitreoIsJunk"] == 0)
        files[name] = f"coords/{Path(name).stem}_true.star"
        write_coordinates(files[name], Table({label: columns[label][rows] for label in (
            "rlnCoordinateX", "rlnCoordinateY", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi",
            "rlnOriginXAngst", "rlnOriginYAngst")}))
    write_coordinate_index("coords/true.star", files)
    micrographs_star = read_star(root / "truth" / "micrographs.star")
    micrographs_star["micrographs"] = micrographs_star["micrographs"].select(
        np.isin(micrographs_star["micrographs"]["rlnMicrographName"], names))
    write_star("coords/micrographs.star", micrographs_star)
    return columns, names


def run_extract(job: str, workers: int) -> float:
    spec = job_spec()
    params = spec.params({"star_mics": "coords/micrographs.star", "coords_suffix": "coords/true.star",
                          "extract_size": str(BOX), "nr_mpi": str(workers)})
    job_dir = Path(job)
    job_dir.mkdir(parents=True)
    log = logging.getLogger("bench")
    start = time.perf_counter()
    spec.run(job_dir, params, JobContext(job_dir, params, log=log, progress=ProgressReporter(job_dir, log, False)))
    return time.perf_counter() - start


def centring_errors(particles: Table, pixel: float, volume: np.ndarray) -> np.ndarray:
    """Distance (px) between each particle's found centre and box centre − origin."""
    images = torch.from_numpy(read_images(particles["rlnImageName"]))
    optics = {"rlnVoltage": 300.0, "rlnSphericalAberration": 2.0, "rlnAmplitudeContrast": 0.1}
    projector = Projector(torch.from_numpy(volume))
    errors = []
    for start in range(0, len(images), 512):
        rows = slice(start, start + 512)
        rotations = euler_degrees_to_matrix(*(torch.from_numpy(particles[f"rlnAngle{a}"][rows])
                                              for a in ("Rot", "Tilt", "Psi"))).float()
        ctf = CtfParams.from_values(defocus_u=particles["rlnDefocusU"][rows], defocus_v=particles["rlnDefocusV"][rows],
                                    defocus_angle=particles["rlnDefocusAngle"][rows], voltage=optics["rlnVoltage"],
                                    cs=optics["rlnSphericalAberration"], amplitude_contrast=optics["rlnAmplitudeContrast"])
        models = projector.project(rotations) * ctf_2d(ctf, BOX, pixel)
        ccf = torch.fft.fftshift(torch.fft.irfft2(torch.fft.rfft2(images[rows]) * models.conj(), s=(BOX, BOX)), dim=(-2, -1))
        window = slice(BOX // 2 - WINDOW, BOX // 2 + WINDOW + 1)
        flat = ccf[:, window, window].reshape(len(ccf), -1).argmax(-1)
        row, col = flat // (2 * WINDOW + 1) + BOX // 2 - WINDOW, flat % (2 * WINDOW + 1) + BOX // 2 - WINDOW
        for i in range(len(ccf)):  # sub-pixel refinement reads three values around each peak
            dy, dx = subpixel_offsets(ccf[i], row[i : i + 1], col[i : i + 1])
            found = np.array([float(col[i] + dx) - BOX // 2, float(row[i] + dy) - BOX // 2])
            expected = -np.array([particles["rlnOriginXAngst"][start + i], particles["rlnOriginYAngst"][start + i]]) / pixel
            errors.append(float(np.hypot(*(found - expected))))
    return np.array(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tutorial")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--micrographs", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with scratch_dataset(args.preset, args.data, "bench_extract_") as (scratch, data):
        project = scratch / "project"
        shutil.copytree(data, project)
        os.chdir(project)
        Path("coords").mkdir()
        columns, names = true_coordinates(project, args.micrographs)
        one = run_extract("Extract/job001", 1)
        two = run_extract("Extract/job002", 2)
        blocks = read_star("Extract/job001/particles.star")
        particles = blocks["particles"]
        pixel = float(blocks["optics"]["rlnImagePixelSize"][0])
        volume, _ = read_mrc("truth/map.mrc")
        images = read_images(particles["rlnImageName"]).astype(np.float64)
        background = background_mask(BOX, default_bg_radius(BOX)).numpy()
        means, stds = images[:, background].mean(1), images[:, background].std(1)
        blank = stds < 1e-6  # boxes under opaque contamination: no electrons, nothing to normalise
        errors = centring_errors(particles.select(~blank), pixel, volume)
        report = {
            "benchmark": "extract",
            "preset": args.preset,
            "micrographs": len(names),
            "particles": int(len(particles)),
            "box": BOX,
            "float16": True,
            "particles_per_s_1_process": round(len(particles) / one, 1),
            "particles_per_s_2_processes": round(len(particles) / two, 1),
            "blank_boxes": int(blank.sum()),
            "centre_error_px": {"median": round(float(np.median(errors)), 3),
                                "p95": round(float(np.percentile(errors, 95)), 3),
                                "p99": round(float(np.percentile(errors, 99)), 3),
                                "fraction_within_1px": round(float((errors < 1).mean()), 4)},
            "background_mean_max_abs": round(float(np.abs(means[~blank]).max()), 4),
            "background_std_max_dev": round(float(np.abs(stds[~blank] - 1).max()), 4),
            "peak_rss_mb": peak_rss_mb(),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
