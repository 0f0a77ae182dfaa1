"""The CtfFind job: RELION 5's micrographs_ctf.star and CTFFIND's files, Continue, bad micrographs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.preprocess.datasets import tiny_movies
from tests.preprocess.projects import corrected_project, run_job
from vitreo.io.errors import InputError
from vitreo.io.star import read_star, write_star
from vitreo.jobs.ctffind_job import job_spec
from vitreo.pipeline.job_star import read_job_star
from vitreo.pipeline.submit import params_from_values

FIXTURE = "star/relion5_betagal_sppractice"
CORRECTED = "MotionCorr/job002/corrected_micrographs.star"


def ctffind(job: str, is_continue: bool = False, **values: str) -> Path:
    options = {"input_star_mics": CORRECTED, "resmax": "10", "box": "256", **values}
    return run_job("CtfFind", job, options, is_continue=is_continue)


@pytest.fixture
def in_project(monkeypatch: pytest.MonkeyPatch) -> Path:
    project = corrected_project()
    monkeypatch.chdir(project)
    if not Path("CtfFind/job003/micrographs_ctf.star").exists():
        ctffind("CtfFind/job003")
    return project


def test_micrographs_ctf_star_has_relion5s_columns_and_the_true_defocus(in_project: Path, shared_data: Path) -> None:
    ours = read_star("CtfFind/job003/micrographs_ctf.star")["micrographs"]
    relion = read_star(shared_data / FIXTURE / "CtfFind/job005/micrographs_ctf.star")["micrographs"]
    assert ours.labels == [label for label in relion.labels if label != "rlnCtfIceRingDensity"]  # 4.5 Å: no ice ring
    assert list(ours["rlnCtfImage"]) == ["CtfFind/job003/Micrographs/mic001_PS.ctf:mrc",
                                         "CtfFind/job003/Micrographs/mic002_PS.ctf:mrc"]
    table = read_star(tiny_movies().micrographs_star)["micrographs"]
    mean = 0.5 * (ours["rlnDefocusU"] + ours["rlnDefocusV"])
    true_mean = 0.5 * (table["rlnDefocusU"] + table["rlnDefocusV"])
    # 512² tiny movies are at the noise limit of Thon rings at 4.5 Å/px (figures of merit 0.01–0.6; errors
    # of 0–30 % seen, changing with the FFT box and the thread count): here a check of units and columns
    # (within 40 %: an Å/nm or Å/µm mix-up is a factor ≥ 10, the search range 5,000–50,000 Å); the 200 Å
    # criterion is tested on 2048² micrographs (tests/preprocess/test_ctf_estimation.py) and the tutorial
    # benchmark
    assert np.all(np.abs(mean - true_mean) < 0.4 * true_mean)
    assert np.all(ours["rlnCtfMaxResolution"] <= 25.0) and np.all(ours["rlnCtfAstigmatism"] >= 0)


def test_ctffind_files_are_written_for_each_micrograph(in_project: Path) -> None:
    root = "CtfFind/job003/Micrographs/mic001_PS"
    for suffix in (".ctf", ".txt", "_avrot.txt", "_ctffind4.log"):
        assert Path(root + suffix).stat().st_size > 0
    assert f"Summary of results                          : {root}.txt" in Path(root + "_ctffind4.log").read_text()
    assert Path("CtfFind/job003/logfile.pdf").read_bytes().startswith(b"%PDF")


def test_continue_refits_only_micrographs_without_a_log(in_project: Path) -> None:
    kept = os.stat("CtfFind/job003/Micrographs/mic001_PS.txt").st_mtime_ns
    os.remove("CtfFind/job003/Micrographs/mic002_PS_ctffind4.log")
    ctffind("CtfFind/job003", is_continue=True)
    assert os.stat("CtfFind/job003/Micrographs/mic001_PS.txt").st_mtime_ns == kept
    assert Path("CtfFind/job003/Micrographs/mic002_PS_ctffind4.log").exists()
    assert len(read_star("CtfFind/job003/micrographs_ctf.star")["micrographs"]) == 2


def test_micrographs_without_spectra_use_tiles_and_a_bad_one_is_skipped(in_project: Path) -> None:
    blocks = read_star(CORRECTED)
    table = blocks["micrographs"]
    table["rlnMicrographNameNoDW"] = np.array([table["rlnMicrographNameNoDW"][0], "MotionCorr/job002/none.mrc"],
                                              dtype=object)
    write_star("MotionCorr/job002/edited.star", blocks)
    job = ctffind("CtfFind/job004", input_star_mics="MotionCorr/job002/edited.star", use_given_ps="No",
                  use_noDW="Yes", ctf_win="384", box="128")
    ours = read_star(job / "micrographs_ctf.star")["micrographs"]
    assert len(ours) == 1 and ours.labels[0] == "rlnMicrographNameNoDW"
    assert Path("CtfFind/job004/Micrographs/mic001_noDW.ctf").exists()
    del blocks["micrographs"]["rlnMicrographNameNoDW"]
    blocks["micrographs"]["rlnMicrographName"] = np.array(["a.mrc", "b.mrc"], dtype=object)
    del blocks["micrographs"]["rlnCtfPowerSpectrum"]
    write_star("MotionCorr/job002/missing.star", blocks)
    with pytest.raises(InputError, match="no micrograph could be fitted"):
        ctffind("CtfFind/job005", input_star_mics="MotionCorr/job002/missing.star")


def test_relion5_job_star_loads_without_unknown_options(shared_data: Path) -> None:
    spec = job_spec()
    params, ignored = params_from_values(spec, read_job_star(shared_data / FIXTURE / "CtfFind/job005/job.star").values)
    assert ignored == [] and spec.label(params) == "relion.ctffind.ctffind4"
