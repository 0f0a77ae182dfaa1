"""The Polish job on MovieRefine's output for simulated movies with large known motion:
tracks against the true motion, shiny particles against the true map, B-factors, Continue."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.picking.job_runner import run_job
from tests.polish.datasets import MASK, MOVIE_DATA, REFINE, movie_refined
from vitreo.em.backprojector import BackProjector
from vitreo.em.fsc import first_shell_below, fsc
from vitreo.io.errors import InputError
from vitreo.io.labels import label_type
from vitreo.io.mrc import read_mrc
from vitreo.io.star import read_star
from vitreo.jobs import polish_job
from vitreo.ml.aligned import AlignedParticles, load_aligned_particles
from vitreo.ml.reconstruct import insert_particles
from vitreo.polish.movie_particles import read_movie_particles
from vitreo.polish.shiny import shiny_images
from vitreo.polish.tracks import track_rms

LINE, BAYES, WEIGHTED = "Polish/job005/", "Polish/job006/", "Polish/job007/"


@pytest.fixture(scope="module")
def polished():
    """The project with a line-fit Polish (no B-factors) and a Bayesian one."""
    project = movie_refined()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project.root)
        run_job(polish_job.job_spec(), {"fn_in": MOVIE_DATA, "sigma_nb": "300", "do_bfactor_weighting": "No"}, LINE)
        run_job(polish_job.job_spec(), {"fn_in": MOVIE_DATA, "do_bayesian_polish": "Yes", "sigma_vel": "1",
                                        "fn_post": REFINE + "_half1_class001_unfil.mrc"}, BAYES)
    return project


@pytest.fixture()
def project(polished, monkeypatch):
    monkeypatch.chdir(polished.root)
    return polished


def _fitted(job: str) -> np.ndarray:
    data = polish_job.MovieInput(MOVIE_DATA)
    table = read_star(job + "fitted_tracks.star")["particles"]
    return np.stack([np.asarray(table[label])[data.movie.index] for label in ("rlnOriginXAngst", "rlnOriginYAngst")],
                    axis=-1) / data.pixel


def _resolution_shell(particles: AlignedParticles, truth: torch.Tensor) -> int:
    """First shell where the FSC of the particles' map against the true map drops below 0.5."""
    backprojector = BackProjector(particles.box)
    insert_particles(backprojector, particles)
    return first_shell_below(fsc(backprojector.reconstruct(method="division"), truth), 0.5)


def test_tracks_match_the_true_motion(project) -> None:
    truth = project.true_offsets
    measured = polish_job.MovieInput(MOVIE_DATA).movie.offsets()
    true_rms = track_rms(np.zeros_like(truth), truth)
    assert true_rms > 2.0
    bayesian = track_rms(_fitted(BAYES), truth)
    assert bayesian < 0.5
    line = track_rms(_fitted(LINE), truth)
    assert line < track_rms(measured, truth) and line < 0.7 * true_rms  # a line cannot follow fast early drift


def test_shiny_particles_give_a_better_map_than_unpolished_ones(project) -> None:
    truth = torch.from_numpy(read_mrc(REFINE + "_class001.mrc")[0])
    data = polish_job.MovieInput(MOVIE_DATA)
    shiny = {job: load_aligned_particles(job + "shiny.star") for job in (LINE, BAYES)}
    frames = torch.cat([read_movie_particles(s, data.stack_index[data.stacks == s], len(data.movie.numbers))
                        for s in np.unique(data.stacks)])
    priors = torch.from_numpy(data.movie.priors())
    unpolished = shiny_images(frames, priors[:, None].expand(-1, frames.shape[1], 2), priors, None, 24)
    before = _resolution_shell(replace(shiny[LINE], images=unpolished), truth)
    after = {job: _resolution_shell(particles, truth) for job, particles in shiny.items()}
    assert after[BAYES] > before
    assert after[LINE] >= before - 1  # never worse by more than one shell


def test_outputs_are_readable_by_relion(project) -> None:
    blocks = read_star(LINE + "shiny.star")
    assert all(label_type(label) is not None for label in blocks["particles"].labels)
    assert len(blocks["particles"]) == len(project.true_offsets)
    assert "rlnMovieFrameNumber" not in blocks["particles"]
    assert (project.root / LINE / "logfile.pdf").stat().st_size > 1000
    assert (project.root / LINE / "Micrographs" / "mic001_shiny.mrcs").is_file()


def test_bfactor_nan_is_reported_and_continue_reuses_frame_maps(project) -> None:
    values = {"fn_in": MOVIE_DATA, "fn_mask": MASK, "average_frame_bfactor": "5"}
    with pytest.raises(InputError, match=r"NaN.*--average_frame_bfactor"):
        run_job(polish_job.job_spec(), values, WEIGHTED)  # 40 particles: no per-frame signal at 20 Å
    frame_map = project.root / WEIGHTED / "frame001_half1_class001_unfil.mrc"
    made = frame_map.stat().st_mtime_ns
    relaxed = {**values, "perframe_bfac_lowres": "1000", "perframe_highres": "40"}
    run_job(polish_job.job_spec(), relaxed, WEIGHTED, is_continue=True)
    assert frame_map.stat().st_mtime_ns == made
    table = read_star(project.root / WEIGHTED / "bfactors.star")["perframe_bfactors"]
    assert np.all(np.isfinite(np.asarray(table["rlnBfactorUsedForSharpening"], float)))
    shiny = project.root / WEIGHTED / "shiny.star"
    written = shiny.stat().st_mtime_ns
    run_job(polish_job.job_spec(), relaxed, WEIGHTED, is_continue=True)
    assert shiny.stat().st_mtime_ns == written


@pytest.mark.parametrize("values, problem", [
    ({"fn_in": "x.star"}, "mask"),
    ({"fn_in": "x.star", "fn_mask": "m.mrc", "average_frame_bfactor": "2"}, "odd"),
    ({"fn_in": "x.star", "do_bayesian_polish": "Yes"}, "half-maps"),
    ({"fn_in": "x.star", "do_helix": "Yes"}, "helical"),
    ({"fn_in": "x.star", "fn_mask": "m.mrc", "sym_name": "X7"}, "symmetry group 'X7'"),
])
def test_invalid_parameters_are_refused(values, problem) -> None:
    spec = polish_job.job_spec()
    with pytest.raises(ValueError, match=problem):
        spec.validate(spec.params(values))
