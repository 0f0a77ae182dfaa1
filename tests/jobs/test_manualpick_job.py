"""The ManualPick job, headless: imported or picked coordinates checked, filtered and kept as RELION's."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tests.picking.datasets import project_copy, tiny_dataset
from tests.picking.job_runner import run_job
from vitreo.io.coords import read_coordinates, write_coordinates
from vitreo.io.star import Table, read_star
from vitreo.jobs.import_job import job_spec as import_spec
from vitreo.jobs.manualpick import job_spec
from vitreo.picking.coordinate_sets import write_coordinate_index
from vitreo.pipeline.job_star import read_job_star

FIXTURE = "star/relion5_betagal_sppractice/ManualPick/job006"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project_copy(tiny_dataset(), tmp_path / "project"))
    monkeypatch.setenv("VITREO_IMPORT_PROBE_SECONDS", "0")
    coordinates = {"Micrographs/mic001_pick.star": ([100.0, 200.0, 600.0, -4.0], [100.0, 300.0, 50.0, 20.0], [5.0, 9.0, 7.0, 8.0]),
                   "Micrographs/mic002_pick.star": ([], [], [])}
    for name, (x, y, fom) in coordinates.items():
        Path(name).parent.mkdir(exist_ok=True)
        write_coordinates(name, Table({"rlnCoordinateX": np.array(x), "rlnCoordinateY": np.array(y),
                                       "rlnAutopickFigureOfMerit": np.array(fom)}))
    return tmp_path / "project"


def test_options_cover_relion5(shared_data: Path) -> None:
    relion = set(read_job_star(shared_data / FIXTURE / "job.star").values)
    assert relion - {option.name for option in job_spec().options} == set()


def test_imported_coordinates_are_checked_and_written_as_relion_does(project: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    run_job(import_spec(), {"do_raw": "No", "do_other": "Yes", "fn_in_other": "Micrographs/*_pick.star",
                            "node_type": "Particle coordinates (*.box, *_pick.star)"}, "Import/job001")
    with caplog.at_level(logging.INFO):
        job = run_job(job_spec(), {"fn_in": "truth/micrographs.star", "fn_coords": "Import/job001/coords_suffix_pick.star",
                                   "do_fom_threshold": "Yes", "minimum_pick_fom": "6"}, "ManualPick/job002")
    assert "2 coordinate(s) lie outside Micrographs/mic001.mrc (512 x 512 px)" in caplog.text
    assert "holds no particles" in caplog.text and "mic002.mrc is left without picks" in caplog.text
    picks = read_coordinates(job / "Micrographs/mic001_manualpick.star")
    assert picks.labels == ["rlnCoordinateX", "rlnCoordinateY", "rlnParticleSelectionType", "rlnAnglePsi",
                            "rlnAutopickFigureOfMerit"]
    assert picks["rlnCoordinateX"].tolist() == [200.0]  # (100, 100) has FOM 5 < 6; two are outside
    assert picks["rlnParticleSelectionType"].tolist() == [2] and picks["rlnAnglePsi"].tolist() == [-999.0]
    index = read_star(job / "manualpick.star")["coordinate_files"]
    assert list(index["rlnMicrographName"]) == ["Micrographs/mic001.mrc"]
    selected = read_star(job / "micrographs_selected.star")["micrographs"]
    assert len(selected) == 2


def test_continue_keeps_reviewed_picks_and_adds_new_micrographs(project: Path) -> None:
    values = {"fn_in": "truth/micrographs.star", "fn_coords": "index.star"}
    write_coordinate_index("index.star", {"Micrographs/mic001.mrc": "Micrographs/mic001_pick.star"})
    job = run_job(job_spec(), values, "ManualPick/job003")
    edited = job / "Micrographs/mic001_manualpick.star"
    write_coordinates(edited, Table({"rlnCoordinateX": [10.0], "rlnCoordinateY": [10.0]}))  # a user's edit
    write_coordinate_index("index.star", {"Micrographs/mic001.mrc": "Micrographs/mic001_pick.star",
                                          "Micrographs/mic002.mrc": "Micrographs/mic001_pick.star"})
    run_job(job_spec(), values, "ManualPick/job003", is_continue=True)
    assert read_coordinates(edited)["rlnCoordinateX"].tolist() == [10.0]
    assert len(read_coordinates(job / "Micrographs/mic002_manualpick.star")) == 2


def test_without_coordinates_nothing_is_picked_yet(project: Path) -> None:
    job = run_job(job_spec(), {"fn_in": "truth/micrographs.star"}, "ManualPick/job004")
    assert read_star(job / "manualpick.star") == {}  # an empty index: RELION writes no empty table either
    assert (job / "micrographs_selected.star").is_file()
