"""The AutoPick job: RELION's options and files, continue rules, FOM maps, and bad input."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from tests.picking.datasets import DIAMETER, project_copy, tiny_dataset, true_centres
from tests.picking.job_runner import run_job
from vitreo.io.coords import read_coordinates
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import read_star
from vitreo.jobs.autopick import job_spec
from vitreo.picking.evaluate import pick_scores
from vitreo.pipeline.job_star import read_job_star

FIXTURE = "star/relion5_betagal_sppractice/AutoPick/job008"
TEMPLATES = {"fn_input_autopick": "truth/micrographs.star", "do_refs": "Yes", "do_ref3d": "Yes",
             "fn_ref3d_autopick": "truth/map.mrc", "ref3d_symmetry": "D2", "particle_diameter": str(DIAMETER),
             "psi_sampling_autopick": "30", "mindist_autopick": "180", "maxstddevnoise_autopick": "1.2",
             "threshold_autopick": "6"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project_copy(tiny_dataset(), tmp_path / "project"))
    return tmp_path / "project"


def test_options_cover_relion5(shared_data: Path) -> None:
    relion = set(read_job_star(shared_data / FIXTURE / "job.star").values)
    ours = {option.name for option in job_spec().options}
    assert relion - ours == set()
    params = job_spec().params({"do_log": "Yes", "fn_input_autopick": "x.star"})
    assert job_spec().label(params) == "relion.autopick.log"


def test_template_picking_writes_relions_files(project: Path) -> None:
    job = run_job(job_spec(), TEMPLATES, "AutoPick/job001")
    index = read_star(job / "autopick.star")["coordinate_files"]
    assert list(index["rlnMicrographName"]) == ["Micrographs/mic001.mrc", "Micrographs/mic002.mrc"]
    assert list(index["rlnMicrographCoordinates"]) == [f"{job}/Micrographs/mic00{i}_autopick.star" for i in (1, 2)]
    picks = {name: read_coordinates(file) for name, file in zip(index["rlnMicrographName"], index["rlnMicrographCoordinates"])}
    assert picks["Micrographs/mic001.mrc"].labels == ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit",
                                                     "rlnClassNumber", "rlnAnglePsi"]
    scores = pick_scores({n: np.stack([t["rlnCoordinateX"], t["rlnCoordinateY"]], 1) for n, t in picks.items()},
                         {n: true_centres(project, n) for n in picks}, 0.25 * DIAMETER / 4.5)
    assert scores.recall >= 0.8  # accuracy itself: tests/picking/test_acceptance.py
    summary = read_star(job / "summary.star")[""]
    assert list(summary["rlnGroupNrParticles"]) == [len(t) for t in picks.values()]
    assert (job / "logfile.pdf").stat().st_size > 1000
    references = read_star(job / "references.star")["references"]["rlnReferenceImage"]
    assert len(references) == 12 and references[0] == f"000001@{job}/references.mrcs"
    classes = np.concatenate([t["rlnClassNumber"] for t in picks.values()])
    assert classes.min() >= 1 and classes.max() <= 12


def test_continue_picks_only_new_micrographs_unless_fom_maps_are_used(project: Path) -> None:
    values = {**TEMPLATES, "do_write_fom_maps": "Yes"}
    job = run_job(job_spec(), values, "AutoPick/job001")
    first = job / "Micrographs/mic001_autopick.star"
    assert (job / "Micrographs/mic001_autopick_fom.mrcs").is_file()
    stamp = first.stat().st_mtime_ns
    first_count = len(read_coordinates(first))
    (job / "Micrographs/mic002_autopick.star").unlink()
    run_job(job_spec(), {**TEMPLATES}, "AutoPick/job001", is_continue=True)
    assert first.stat().st_mtime_ns == stamp and (job / "Micrographs/mic002_autopick.star").is_file()
    started = time.time()
    higher = {**TEMPLATES, "do_read_fom_maps": "Yes", "threshold_autopick": "9"}
    run_job(job_spec(), higher, "AutoPick/job001", is_continue=True)  # re-picks every micrograph from the maps
    assert first.stat().st_mtime_ns != stamp and len(read_coordinates(first)) < first_count
    assert time.time() - started < 10


def test_log_and_blob_pickers_run_as_jobs(project: Path) -> None:
    log_job = run_job(job_spec(), {"fn_input_autopick": "truth/micrographs.star", "do_log": "Yes",
                                   "log_diam_min": "150", "log_diam_max": "180"}, "AutoPick/job002")
    table = read_coordinates(log_job / "Micrographs/mic001_autopick.star")
    assert len(table) > 5 and np.all(table["rlnClassNumber"] == 0)
    assert not (log_job / "references.star").exists()
    blob = run_job(job_spec(), {"fn_input_autopick": "truth/micrographs.star", "do_gauss": "Yes",
                                "particle_diameter": "200", "threshold_autopick": "2.5", "mindist_autopick": "180"},
                   "AutoPick/job003")
    assert len(read_coordinates(blob / "Micrographs/mic002_autopick.star")) > 5


def test_references_of_another_pixel_size_than_declared_are_refused(project: Path) -> None:
    volume, _ = read_mrc("truth/map.mrc")
    write_mrc("map_2A.mrc", volume, 2.0)
    with pytest.raises(InputError, match="pixel size of 2 Å in their header, but 4.5 Å was declared"):
        run_job(job_spec(), {**TEMPLATES, "fn_ref3d_autopick": "map_2A.mrc"}, "AutoPick/job004")
    assert not Path("AutoPick/job004/autopick.star").exists()


def test_a_missing_micrograph_is_reported_and_the_others_are_picked(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    Path("Micrographs/mic001.mrc").unlink()
    with caplog.at_level(logging.INFO), pytest.raises(InputError, match="1 micrograph"):
        run_job(job_spec(), TEMPLATES, "AutoPick/job005")
    assert "mic001.mrc" in caplog.text
    index = read_star("AutoPick/job005/autopick.star")["coordinate_files"]
    assert list(index["rlnMicrographName"]) == ["Micrographs/mic002.mrc"]


def test_invalid_choices_are_refused() -> None:
    spec = job_spec()
    with pytest.raises(ValueError, match="exactly one method"):
        spec.validate(spec.params({"fn_input_autopick": "m.star", "do_log": "Yes", "do_refs": "Yes"}))
    with pytest.raises(ValueError, match="Topaz"):
        spec.validate(spec.params({"fn_input_autopick": "m.star", "do_topaz": "Yes"}))
    with pytest.raises(ValueError, match="diameter"):
        spec.validate(spec.params({"fn_input_autopick": "m.star", "do_gauss": "Yes"}))
