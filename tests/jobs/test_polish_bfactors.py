"""Per-frame B-factors of the Polish job on simulated movies with dose damage (true tracks, so
only the damage differs between frames), against the B-factors the simulated damage implies."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from tests.picking.job_runner import run_job
from tests.polish.datasets import DOSE_MOVIES, MASK, TRUE_MOVIE_DATA, damage_bfactors, dose_project
from vitreo.io.star import read_star
from vitreo.jobs import polish_job
from vitreo.polish.frame_maps import window_groups

JOB, AVERAGE = "Polish/job010/", 3


@pytest.fixture(scope="module")
def bfactors():
    """Found and expected relative B-factors (Å²) per frame group, with the frames averaged by 3."""
    project = dose_project()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project.root)
        run_job(polish_job.job_spec(), {"fn_in": TRUE_MOVIE_DATA, "fn_mask": MASK, "do_fit_movement": "No",
                                        "average_frame_bfactor": str(AVERAGE)}, JOB)
        table = read_star(JOB + "bfactors.star")["perframe_bfactors"]
        numbers = np.asarray(table["rlnMovieFrameNumber"])
        found = np.asarray(table["rlnBfactorUsedForSharpening"], float)
        windows = [window_groups(g, len(numbers), AVERAGE) for g in range(len(numbers))]
        expected = []
        for g, number in enumerate(numbers):
            s2 = np.asarray(read_star(f"{JOB}frame{number:03d}_guinier.star")["relative_guinier"]["rlnResolutionSquared"])
            assert len(s2) >= 5  # shells between 20 Å and where the average map has signal
            expected.append(damage_bfactors(windows, DOSE_MOVIES["dose_per_frame"], s2)[g])
    return numbers, found, np.array(expected)


def test_per_frame_bfactors_fall_with_dose_as_simulated(bfactors) -> None:
    numbers, found, expected = bfactors
    assert np.all(np.isfinite(found))
    assert spearmanr(numbers, found).correlation <= -0.8
    # the last frames well below the first: at least half the simulated drop (about 300 Å²)
    assert found[-2:].mean() - found[:2].mean() < 0.5 * (expected[-2:].mean() - expected[:2].mean())
    assert np.sqrt(np.mean((found - expected) ** 2)) < 60.0
