"""RELION 5's Polish job.star (a refinement's particles, MotionCorr's micrographs, a
postprocess.star) loads into vitreo's Polish and runs Bayesian polishing on simulated movies with
large known motion; the options vitreo lacks are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.picking.job_runner import run_job
from tests.polish.datasets import REFINE, polish_project
from vitreo.io.mrc import read_header_info
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs import polish_job
from vitreo.jobs.polish_relion5 import MOVIE_PARTICLES
from vitreo.pipeline.job_star import read_job_star
from vitreo.pipeline.submit import params_from_values
from vitreo.polish.tracks import track_rms

MICROGRAPHS = "MotionCorr/job002/corrected_micrographs.star"
POSTPROCESS = "PostProcess/job026/postprocess.star"
JOB = "Polish/job028/"

JOB_STAR = f"""
# version 50001

data_job

_rlnJobTypeLabel             relion.polish
_rlnJobIsContinue                       0
_rlnJobIsTomo                           0


# version 50001

data_joboptions_values

loop_
_rlnJobOptionVariable #1
_rlnJobOptionValue #2
do_float16        Yes
do_own_params        Yes
do_param_optim         No
 do_polish        Yes
  do_queue         No
 eval_frac        0.5
extract_size         -1
first_frame          1
   fn_data {REFINE}_data.star
    fn_mic {MICROGRAPHS}
   fn_post {POSTPROCESS}
last_frame         -1
    maxres         -1
min_dedicated          1
    minres         20
    nr_mpi          1
nr_threads          1
opt_params         ""
optim_min_part      10000
other_args         ""
      qsub     sbatch
qsubscript         ""
 queuename    openmpi
   rescale         -1
 sigma_acc          2
 sigma_div       5000
 sigma_vel          1
"""


@pytest.fixture()
def relion5_values(tmp_path: Path, monkeypatch) -> dict[str, str]:
    """The test project with RELION 5's MotionCorr and PostProcess outputs, and the job.star's values."""
    project = polish_project()
    monkeypatch.chdir(project.root)
    movies = read_star(project.root / "MotionCorr/job002/corrected_micrograph_movies.star")
    names = np.asarray(movies["movies"]["rlnMicrographName"]).astype(str)
    Path(MICROGRAPHS).parent.mkdir(parents=True, exist_ok=True)
    write_star(MICROGRAPHS, {"optics": movies["optics"], "micrographs": Table({
        "rlnMicrographName": names, "rlnMicrographMetadata": [n.replace(".mrc", ".star") for n in names],
        "rlnOpticsGroup": np.ones(len(names), np.int64)})})
    Path(POSTPROCESS).parent.mkdir(parents=True, exist_ok=True)
    write_star(POSTPROCESS, {"general": {"rlnUnfilteredMapHalf1": f"{REFINE}_half1_class001_unfil.mrc",
                                         "rlnUnfilteredMapHalf2": f"{REFINE}_half2_class001_unfil.mrc"}})
    job_star = tmp_path / "job.star"
    job_star.write_text(JOB_STAR)
    job = read_job_star(job_star)
    spec = polish_job.job_spec()
    assert spec.matches(job.type_label)
    params, ignored = params_from_values(spec, job.values)
    assert ignored == []  # every RELION 5 option is known
    return dict(job.values)


def test_relion5_job_star_polishes_the_refined_particles(relion5_values) -> None:
    project = polish_project()
    run_job(polish_job.job_spec(), relion5_values, JOB)
    movie = polish_job.MovieInput(JOB + MOVIE_PARTICLES)
    assert movie.movie.offsets().shape == project.true_offsets.shape  # every particle, every frame
    table = read_star(JOB + "fitted_tracks.star")["particles"]
    fitted = np.stack([np.asarray(table[label])[movie.movie.index] for label in ("rlnOriginXAngst",
                                                                                  "rlnOriginYAngst")], -1)
    truth = project.true_offsets
    assert track_rms(fitted / movie.pixel, truth) < 0.5 < 0.2 * track_rms(np.zeros_like(truth), truth)
    shiny = read_star(JOB + "shiny.star")["particles"]
    assert len(shiny) == len(truth)
    first = Path(str(shiny["rlnImageName"][0]).split("@", 1)[1])
    assert read_header_info(first).mode == 12  # float16: do_float16


@pytest.mark.parametrize("changes, problem", [
    ({"do_param_optim": "Yes"}, "training"),
    ({"do_polish": "No"}, "nothing to do"),
    ({"fn_in": "MovieRefine/job004/run_avg5_off2_data.star"}, "not both"),
    ({"do_own_params": "No"}, "opt_params"),
    ({"fn_mic": ""}, "fn_mic"),
])
def test_options_vitreo_lacks_are_refused(relion5_values, changes, problem) -> None:
    spec = polish_job.job_spec()
    with pytest.raises(ValueError, match=problem):
        spec.validate(spec.params({**relion5_values, **changes}))


def test_optimised_parameters_are_read_from_relions_file(tmp_path: Path) -> None:
    from vitreo.jobs.polish_relion5 import motion_priors_file
    path = tmp_path / "opt_params_all_groups.txt"
    path.write_text("0.4035 1155 2.715\n")
    assert motion_priors_file(str(path)) == {"sigma_vel": "0.4035", "sigma_div": "1155", "sigma_acc": "2.715"}
