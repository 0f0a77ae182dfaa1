"""The MotionCorr job: RELION 5's outputs, Continue, bad movies, and RELION's job.star."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.preprocess.projects import MOVIES, corrected_project, motioncorr
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_header_info, write_mrc
from vitreo.io.star import read_star, write_star
from vitreo.jobs.motioncorr_job import job_spec, ps_grouping
from vitreo.pipeline.job_star import read_job_star
from vitreo.pipeline.submit import params_from_values

FIXTURE = "star/relion5_betagal_sppractice"


@pytest.fixture
def in_project(monkeypatch: pytest.MonkeyPatch) -> Path:
    project = corrected_project()
    monkeypatch.chdir(project)
    return project


def test_corrected_micrographs_star_has_relion5s_columns(in_project: Path, shared_data: Path) -> None:
    ours = read_star("MotionCorr/job002/corrected_micrographs.star")
    relion = read_star(shared_data / FIXTURE / "MotionCorr/job002/corrected_micrographs.star")
    assert ours["micrographs"].labels == ["rlnMicrographNameNoDW"] + relion["micrographs"].labels
    assert ours["optics"].labels[-1] == "rlnMicrographPixelSize" and ours["optics"]["rlnMicrographPixelSize"][0] == 4.5
    names = list(ours["micrographs"]["rlnMicrographName"])
    assert names == ["MotionCorr/job002/Micrographs/mic001.mrc", "MotionCorr/job002/Micrographs/mic002.mrc"]
    assert np.all(ours["micrographs"]["rlnAccumMotionTotal"] > ours["micrographs"]["rlnAccumMotionEarly"])


def test_each_movie_has_relions_files(in_project: Path, shared_data: Path) -> None:
    root = "MotionCorr/job002/Micrographs/mic001"
    info = read_header_info(root + ".mrc")
    assert info.mode == 12 and info.shape == (1, 512, 512) and info.pixel_size == pytest.approx(4.5)  # float16
    assert read_header_info(root + "_noDW.mrc").mode == 12
    assert read_header_info(root + "_PS.mrc").shape == (1, 512, 512)
    ours = read_star(root + ".star")
    relion = read_star(shared_data / FIXTURE / "MotionCorr/job002/Movies/20170629_00021_frameImage.star")
    assert set(ours["general"]) == set(relion["general"]) - {"rlnMicrographGainName"}
    assert ours["global_shift"].labels == relion["global_shift"].labels and len(ours["global_shift"]) == 16
    assert ours["local_shift"].labels == relion["local_shift"].labels
    log = Path(root + ".log").read_text()
    assert "Global alignment:" in log and "Written aligned and dose-weighted sum" in log
    assert Path("MotionCorr/job002/logfile.pdf").read_bytes().startswith(b"%PDF")


def test_continue_processes_only_new_movies(in_project: Path) -> None:
    job = "MotionCorr/job002"
    before = os.stat(f"{job}/Micrographs/mic001.mrc").st_mtime_ns
    os.remove(f"{job}/Micrographs/mic002.mrc")
    motioncorr(job, is_continue=True, do_save_noDW="Yes")
    assert os.stat(f"{job}/Micrographs/mic001.mrc").st_mtime_ns == before
    assert Path(f"{job}/Micrographs/mic002.mrc").exists()
    assert len(read_star(f"{job}/corrected_micrographs.star")["micrographs"]) == 2


def _movies_star(names: list[str]) -> None:
    blocks = read_star(MOVIES)
    table = blocks["movies"].select(np.zeros(len(names), dtype=int))
    table["rlnMicrographMovieName"] = np.array(names, dtype=object)
    write_star("Import/bad/movies.star", {"optics": blocks["optics"], "movies": table})


def test_bad_movies_are_reported_and_skipped(in_project: Path, caplog: pytest.LogCaptureFixture) -> None:
    Path("Import/bad").mkdir(exist_ok=True)
    Path("Import/bad/broken.mrcs").write_bytes(b"not an MRC file at all")
    write_mrc("Import/bad/short.mrcs", np.ones((4, 512, 512), np.float32), 4.5, is_stack=True)
    _movies_star(["Micrographs/mic001_movie.mrcs", "Import/bad/broken.mrcs", "Import/bad/short.mrcs",
                  "Import/bad/missing.mrcs"])
    with caplog.at_level(logging.INFO):
        job = motioncorr("MotionCorr/job010", input_star_mics="Import/bad/movies.star", last_frame_sum="8",
                         patch_x="1", patch_y="1", other_args="--save_movies")
    names = read_star(job / "corrected_micrographs.star")["micrographs"]["rlnMicrographName"]
    assert list(names) == ["MotionCorr/job010/Micrographs/mic001.mrc"]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 3 and any("fewer than asked" in m for m in skipped)
    aligned = read_star(job / "corrected_micrograph_movies.star")["movies"]["rlnMicrographMovieName"]
    assert list(aligned) == ["MotionCorr/job010/Micrographs/mic001_movie.mrcs"]
    assert read_header_info(aligned[0]).shape == (8, 512, 512)  # frames 1–8, as asked


def test_a_job_where_no_movie_succeeds_fails(in_project: Path) -> None:
    write_mrc("Import/bad/gain.mrc", np.ones((256, 512), np.float32), 4.5)
    with pytest.raises(InputError, match="no movie could be motion-corrected"):
        motioncorr("MotionCorr/job011", fn_gain_ref="Import/bad/gain.mrc", patch_x="1", patch_y="1")
    gain = np.ones((512, 512), np.float32)
    gain[0, :3] = 0.0  # dead pixels
    write_mrc("Import/bad/rotated_gain.mrc", gain, 4.5)
    Path("Import/bad/defects.txt").write_text("100 200 4 3\n7 9\n")
    motioncorr("MotionCorr/job012", fn_gain_ref="Import/bad/rotated_gain.mrc", gain_rot="90 degrees (1)",
               fn_defect="Import/bad/defects.txt", patch_x="1", patch_y="1", last_frame_sum="6")
    assert Path("MotionCorr/job012/Micrographs/mic002.mrc").exists()
    assert "Filled 16 defect pixels" in Path("MotionCorr/job012/Micrographs/mic002.log").read_text()
    assert read_star("MotionCorr/job012/Micrographs/mic002.star")["general"]["rlnMicrographDefectFile"] == \
        "Import/bad/defects.txt"
    shutil.rmtree("MotionCorr/job011")


def test_relion5_job_star_loads_without_unknown_options(shared_data: Path) -> None:
    spec = job_spec()
    params, ignored = params_from_values(spec, read_job_star(shared_data / FIXTURE / "MotionCorr/job002/job.star").values)
    assert ignored == [] and spec.label(params) == "relion.motioncorr.own"
    assert ps_grouping(params) == 3  # RELION's note.txt: --grouping_for_ps 3 for 4 e/Å² at 1.277 e/Å²/frame
