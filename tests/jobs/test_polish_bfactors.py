"""Per-frame B-factors of the Polish job on simulated movies with dose damage (true tracks, so
only the damage differs between frames), against the B-factors the simulated damage implies."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from tests.picking.job_runner import run_job
from tests.polish.datasets import DOSE_MOVIES, MASK, TRUE_MOVIE_DATA, FrameBfactors, dose_project, frame_bfactors
from vitreo.jobs import polish_job

JOB, AVERAGE = "Polish/job010/", 3


@pytest.fixture(scope="module")
def bfactors() -> FrameBfactors:
    """Found and expected relative B-factors per frame group, with the frames averaged by 3 and
    reconstructed to 12 Å."""
    project = dose_project()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project.root)
        run_job(polish_job.job_spec(), {"fn_in": TRUE_MOVIE_DATA, "fn_mask": MASK, "do_fit_movement": "No",
                                        "average_frame_bfactor": str(AVERAGE), "perframe_highres": "12"}, JOB)
        return frame_bfactors(JOB, AVERAGE, DOSE_MOVIES["dose_per_frame"])


@pytest.mark.slow
def test_per_frame_bfactors_fall_with_dose_as_simulated(bfactors) -> None:
    numbers, found, expected = bfactors.numbers, bfactors.found, bfactors.expected
    assert all(len(s2) >= 5 for s2 in bfactors.s2)  # shells between 20 Å and where the average map has signal
    assert np.all(np.isfinite(found))
    assert spearmanr(numbers, found).correlation <= -0.9
    # the last frames well below the first: at least half the simulated drop (about 300 Å²)
    assert found[-2:].mean() - found[:2].mean() < 0.5 * (expected[-2:].mean() - expected[:2].mean())
    # RMS 9–20 Å² over seeds 0–8 of the simulation
    assert np.sqrt(np.mean((found - expected) ** 2)) < 45.0
