"""The MovieRefine job on simulated movies with large known motion."""

from __future__ import annotations

import numpy as np
import pytest

from tests.picking.job_runner import run_job
from tests.polish.datasets import MOVIE_DATA, MOVIE_REFINE_JOB, movie_refine_values, movie_refined
from vitreo.io.errors import InputError
from vitreo.io.image_refs import parse_image_names
from vitreo.io.labels import label_type
from vitreo.io.star import read_star
from vitreo.jobs import movierefine_job
from vitreo.jobs.polish_job import MovieInput


@pytest.fixture()
def project(monkeypatch):
    refined = movie_refined()
    monkeypatch.chdir(refined.root)
    return refined


def test_movie_particles_are_written_with_relion_labels(project) -> None:
    assert movierefine_job.output_name(movierefine_job.job_spec().params(movie_refine_values())) == \
        "run_avg5_off2_data.star"
    table = read_star(MOVIE_DATA)["particles"]
    assert len(table) == project.true_offsets.shape[0] * project.n_frames
    assert all(label_type(label) is not None for label in table.labels)  # RELION knows every label
    assert sorted(set(np.asarray(table["rlnMovieFrameNumber"]))) == list(range(1, project.n_frames + 1))
    _, files = parse_image_names(table["rlnImageName"])
    assert sorted(set(files)) == [f"{MOVIE_REFINE_JOB}Micrographs/mic00{i}_movie.mrcs" for i in (1, 2)]


def test_per_frame_offsets_follow_the_true_motion(project) -> None:
    data = MovieInput(MOVIE_DATA)
    measured, truth = data.movie.offsets(), project.true_offsets
    true_relative = truth - truth.mean(1, keepdims=True)
    assert np.sqrt((true_relative**2).sum(-1).mean()) > 2.0  # large motion: several pixels
    # single frames are noisy and the 2-px prior holds back the fastest motion, but the micrograph's
    # common track (what Bayesian polishing starts from) takes out at least 40% of the true motion
    for name in np.unique(data.micrographs):
        rows = data.micrographs == name
        error = np.linalg.norm(np.median(measured[rows] - truth[rows], axis=0), axis=-1)
        assert np.sqrt((error**2).mean()) < 0.6 * np.sqrt((true_relative[rows].mean(0) ** 2).sum(-1).mean())


def test_continue_does_not_extract_again(project) -> None:
    stack = project.root / MOVIE_REFINE_JOB / "Micrographs" / "mic001_movie.mrcs"
    before = stack.stat().st_mtime_ns
    run_job(movierefine_job.job_spec(), movie_refine_values(), MOVIE_REFINE_JOB, is_continue=True)
    assert stack.stat().st_mtime_ns == before
    assert len(read_star(MOVIE_DATA)["particles"]) == project.true_offsets.shape[0] * project.n_frames


def test_bad_inputs_give_one_line_errors(project, tmp_path) -> None:
    with pytest.raises(InputError, match="_optimiser.star or _data.star"):
        run_job(movierefine_job.job_spec(), {**movie_refine_values(), "fn_cont": "Refine3D/job001/run_model.star"},
                str(tmp_path / "a"))
    with pytest.raises(InputError, match="does not exist"):
        run_job(movierefine_job.job_spec(), {**movie_refine_values(), "fn_cont": "Refine3D/nothing_data.star"},
                str(tmp_path / "b"))
    with pytest.raises(ValueError, match="movie_sigma_offset"):
        movierefine_job.job_spec().validate(movierefine_job.job_spec().params({**movie_refine_values(),
                                                                               "movie_sigma_offset": "0"}))
