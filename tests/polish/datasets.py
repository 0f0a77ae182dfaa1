"""Simulated projects for the polishing tests: movies with known motion and dose damage, a
"finished auto-refine" made from the simulator's truth, the true per-frame offsets, and the
relative B-factors the simulated damage implies.

The movies are used as the aligned movies (no motion correction), so each particle's true track
is the whole simulated motion at its position: offset o_f = o_0 + s_f(r) px (RELION's sense,
:mod:`vitreo.simulate.motion`), and the averaged particle's offset is its mean over frames.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitreo.em.dose import frame_damage
from vitreo.em.masks import soft_spherical_mask
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import Table, read_star, write_star
from vitreo.picking.extraction import ExtractSettings
from vitreo.polish.frame_maps import window_groups
from vitreo.polish.movie_particles import extract_movie_particles, frame_groups
from vitreo.polish.movie_table import movie_rows
from vitreo.preprocess.motion_files import read_motion_star
from vitreo.simulate import preset, simulate_dataset
from vitreo.simulate.motion import MotionModel

REFINE = "Refine3D/job001/run"
MOVIES = "MotionCorr/job002/corrected_micrograph_movies.star"
MASK = "MaskCreate/job003/mask.mrc"


@dataclass(frozen=True)
class PolishProject:
    """The project folder, its pixel size and box, and the true offsets (P, F, 2) px of its
    particles in data-file order."""

    root: Path
    pixel_size: float
    box: int
    true_offsets: np.ndarray
    n_frames: int


def true_offsets(dataset_root: Path, particles: Table, pixel: float) -> np.ndarray:
    """o_f = o_0 + s_f(r) for every particle (P, F, 2) px, r = coordinate − o_0."""
    tracks = np.zeros((len(particles), 0, 2))
    out = None
    names = np.asarray(particles["rlnMicrographName"]).astype(str)
    for name in np.unique(names):
        rows = np.flatnonzero(names == name)
        record = read_motion_star(dataset_root / "truth" / "motion" / (Path(name).stem.replace("_movie", "") + ".star"))
        model = MotionModel(record.shifts, record.local_coefficients, record.size)
        o0 = np.stack([particles["rlnOriginXAngst"][rows], particles["rlnOriginYAngst"][rows]], 1) / pixel
        r = np.stack([particles["rlnCoordinateX"][rows], particles["rlnCoordinateY"][rows]], 1) - o0
        shifts = model.shifts(r[:, 0], r[:, 1]).transpose(1, 0, 2)
        if out is None:
            out = np.zeros((len(particles), shifts.shape[1], 2))
        out[rows] = o0[:, None] + shifts
    return tracks if out is None else out


def make_project(folder: Path, **overrides: object) -> PolishProject:
    """Simulate ``tiny`` (with ``overrides``) into ``folder`` and lay out the project."""
    dataset = simulate_dataset(folder / "sim", preset("tiny", **overrides))
    root = folder / "project"
    root.mkdir()
    os.symlink(dataset.root / "Micrographs", root / "Micrographs")
    blocks = read_star(dataset.particles_star)
    particles = blocks["particles"]
    particles = particles.select(np.flatnonzero(np.asarray(particles["rlnVitreoIsJunk"]) == 0))
    optics = blocks["optics"]
    pixel, box = float(optics["rlnImagePixelSize"][0]), int(optics["rlnImageSize"][0])
    truth = true_offsets(dataset.root, particles, pixel)
    average = truth.mean(1)
    particles["rlnOriginXAngst"] = average[:, 0] * pixel
    particles["rlnOriginYAngst"] = average[:, 1] * pixel
    particles["rlnRandomSubset"] = np.arange(len(particles)) % 2 + 1
    particles["rlnMicrographName"] = np.array([n.replace("_movie.mrcs", ".mrc") for n in
                                               np.asarray(particles["rlnMicrographName"]).astype(str)], dtype=object)
    for label in ("rlnVitreoState", "rlnVitreoIsJunk", "rlnVitreoObjectType"):
        del particles[label]
    refine = root / REFINE
    refine.parent.mkdir(parents=True)
    write_star(str(refine) + "_data.star", {"optics": optics, "particles": particles})
    volume, _ = read_mrc(dataset.maps[0])
    for name in ("_class001.mrc", "_half1_class001_unfil.mrc", "_half2_class001_unfil.mrc"):
        write_mrc(str(refine) + name, volume, pixel)
    mics = sorted(set(np.asarray(particles["rlnMicrographName"]).astype(str)))
    movie_optics = Table({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                          "rlnMicrographOriginalPixelSize": [pixel], "rlnMicrographPixelSize": [pixel],
                          "rlnVoltage": [300.0], "rlnSphericalAberration": [2.0], "rlnAmplitudeContrast": [0.1]})
    movies = Table({"rlnMicrographMovieName": [m.replace(".mrc", "_movie.mrcs") for m in mics],
                    "rlnMicrographName": mics, "rlnOpticsGroup": [1] * len(mics)})
    (root / MOVIES).parent.mkdir(parents=True)
    write_star(root / MOVIES, {"optics": movie_optics, "movies": movies})
    mask = soft_spherical_mask((box,) * 3, 0.4 * box, 4.0)
    (root / MASK).parent.mkdir(parents=True)
    write_mrc(root / MASK, mask.numpy(), pixel)
    return PolishProject(root, pixel, box, truth, truth.shape[1])


@functools.cache
def polish_project() -> PolishProject:
    """The tests' project: two 512² movies of 12 frames, 4.5 Å/px, 40 particles in 64-px boxes, and
    large motion (a 40 Å drift path on average)."""
    folder = Path(tempfile.mkdtemp(prefix="vitreo-polish-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    torch.manual_seed(0)
    return make_project(folder, n_frames=12, drift=40.0)


MOVIE_REFINE_JOB = "MovieRefine/job004/"
MOVIE_DATA = MOVIE_REFINE_JOB + "run_avg5_off2_data.star"


def movie_refine_values() -> dict[str, str]:
    """MovieRefine's parameters for the test project (its large motion needs a 2-px prior)."""
    return {"fn_cont": REFINE + "_data.star", "fn_movie_star": MOVIES, "extract_size": "64",
            "movie_runavg_window": "5", "movie_sigma_offset": "2"}


@functools.cache
def movie_refined() -> PolishProject:
    """The test project after its MovieRefine job (``MOVIE_DATA``)."""
    from tests.picking.job_runner import run_job
    from vitreo.jobs import movierefine_job

    project = polish_project()
    here = os.getcwd()
    os.chdir(project.root)
    try:
        run_job(movierefine_job.job_spec(), movie_refine_values(), MOVIE_REFINE_JOB)
    finally:
        os.chdir(here)
    return project


#: movies on which single frames carry measurable signal between 20 Å and 12 Å: 16 movies of
#: 1024², 4,000 particles, 8 frames of 4 e/Å² (strong damage in the last frames). With 1,000
#: particles the found B-factors of frame groups scattered by ±70 Å² RMS around the truth (half
#: of 8 seeds beyond 60); with 4,000, 9–20 Å² over 9 seeds.
DOSE_MOVIES = {"n_micrographs": 16, "micrograph_size": (1024, 1024), "particles_per_micrograph": 250, "n_frames": 8,
               "dose_per_frame": 4.0}
TRUE_MOVIE_DATA = "MovieRefine/truth/run_true_data.star"


@functools.cache
def dose_project() -> PolishProject:
    """The project of ``DOSE_MOVIES`` with its true movie particles (``TRUE_MOVIE_DATA``)."""
    folder = Path(tempfile.mkdtemp(prefix="vitreo-polish-dose-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    torch.manual_seed(0)
    project = make_project(folder, **DOSE_MOVIES)
    write_true_movie_particles(project, TRUE_MOVIE_DATA)
    return project


def write_true_movie_particles(project: PolishProject, star: str) -> None:
    """A perfect MovieRefine: every particle cut from every movie frame (as MovieRefine does), with
    its true per-frame offsets and true angles, written to ``star`` (relative to the project)."""
    blocks = read_star(project.root / (REFINE + "_data.star"))
    particles, optics = blocks["particles"], blocks["optics"]
    names = np.asarray(particles["rlnMicrographName"]).astype(str)
    groups = frame_groups(project.n_frames, 1, 0, 1)
    angles = np.stack([np.asarray(particles[label], float) for label in ("rlnAngleRot", "rlnAngleTilt",
                                                                          "rlnAnglePsi")], axis=1)
    target = project.root / star
    target.parent.mkdir(parents=True, exist_ok=True)
    tables = []
    for name in np.unique(names):
        rows = np.flatnonzero(names == name)
        stack = Path(star).parent / (Path(name).stem + "_movie.mrcs")
        centres = np.stack([np.asarray(particles[label], float)[rows] for label in ("rlnCoordinateX",
                                                                                     "rlnCoordinateY")], axis=1)
        kept = rows[extract_movie_particles(project.root / name.replace(".mrc", "_movie.mrcs"), centres, groups,
                                            ExtractSettings(box=project.box), project.root / stack, project.pixel_size)]
        tables.append(movie_rows(particles.select(kept), groups.numbers, 1, 1, str(stack), project.true_offsets[kept],
                                 np.repeat(angles[kept, None], len(groups), axis=1), project.pixel_size))
    merged = Table({label: np.concatenate([np.asarray(t[label]) for t in tables]) for label in tables[0].labels})
    write_star(target, {"optics": optics, "particles": merged})


def damage_bfactors(windows: list[np.ndarray], dose_per_frame: float, s2: np.ndarray) -> np.ndarray:
    """The relative B-factors (Å²) the simulated damage (Grant & Grigorieff, 300 kV, no
    pre-exposure) gives frame groups averaging the movie frames ``windows[g]`` (0-based): the
    slope × 4 of ln(D_g / mean D) against s² over the shells ``s2`` (1/Å²), as Polish fits them."""
    s = torch.from_numpy(np.sqrt(np.asarray(s2, float)))
    damage = torch.stack([torch.stack([frame_damage(s, f * dose_per_frame, (f + 1) * dose_per_frame)
                                       for f in window]).mean(0) for window in windows])
    ratios = torch.log(damage / damage.mean(0)).numpy()
    return np.array([4.0 * np.polyfit(np.asarray(s2, float), ratio, 1)[0] for ratio in ratios])


@dataclass(frozen=True)
class FrameBfactors:
    """A Polish job's per-frame B-factors (Å²) against those the simulated damage implies over the
    same shells, with the shells each frame's fit used."""

    numbers: np.ndarray
    found: np.ndarray
    expected: np.ndarray
    s2: list[np.ndarray]


def frame_bfactors(job: str, average: int, dose_per_frame: float) -> FrameBfactors:
    """Read ``job``'s bfactors.star and frameNNN_guinier.star (frames averaged by ``average``)."""
    table = read_star(job + "bfactors.star")["perframe_bfactors"]
    numbers = np.asarray(table["rlnMovieFrameNumber"])
    windows = [window_groups(g, len(numbers), average) for g in range(len(numbers))]
    shells = [np.asarray(read_star(f"{job}frame{n:03d}_guinier.star")["relative_guinier"]["rlnResolutionSquared"])
              for n in numbers]
    expected = np.array([damage_bfactors(windows, dose_per_frame, s2)[g] for g, s2 in enumerate(shells)])
    return FrameBfactors(numbers, np.asarray(table["rlnBfactorUsedForSharpening"], float), expected, shells)
