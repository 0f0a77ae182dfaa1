"""The Extract job: RELION's particles.star and stacks, skipped boxes, continue, re-extraction, bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tests.picking.datasets import project_copy, tiny_dataset, true_centres
from tests.picking.job_runner import run_job
from vitreo.io.coords import write_coordinates
from vitreo.io.errors import InputError
from vitreo.io.image_refs import read_images
from vitreo.io.mrc import read_header_info
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs.extract import job_spec
from vitreo.picking.coordinate_sets import write_coordinate_index
from vitreo.pipeline.job_star import read_job_star

FIXTURE = "star/relion5_betagal_sppractice/Extract/job009"
MICROGRAPHS = ("Micrographs/mic001.mrc", "Micrographs/mic002.mrc")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny dataset with coordinate files at the true centres (plus 3 bad ones on mic001)."""
    root = project_copy(tiny_dataset(), tmp_path / "project")
    monkeypatch.chdir(root)
    files = {}
    for name in MICROGRAPHS:
        xy = np.rint(true_centres(root, name))
        if name.endswith("001.mrc"):
            xy = np.concatenate([xy, [[600.0, 10.0], [-1.0, 200.0], [10.0, 250.0]]])  # 2 outside, 1 at the edge
        file = name.replace(".mrc", "_pick.star")
        write_coordinates(file, Table({"rlnCoordinateX": xy[:, 0], "rlnCoordinateY": xy[:, 1],
                                       "rlnAutopickFigureOfMerit": np.linspace(1, 9, len(xy))}))
        files[name] = file
    write_coordinate_index("picks.star", files)
    return root


def test_options_cover_relion5(shared_data: Path) -> None:
    relion = set(read_job_star(shared_data / FIXTURE / "job.star").values)
    assert relion - {option.name for option in job_spec().options} == set()


def test_particles_star_stacks_and_skipped_boxes(project: Path, caplog: pytest.LogCaptureFixture,
                                                 shared_data: Path) -> None:
    with caplog.at_level(logging.INFO):
        job = run_job(job_spec(), {"star_mics": "truth/micrographs.star", "coords_suffix": "picks.star",
                                   "extract_size": "64"}, "Extract/job001")
    assert "mic001.mrc: 2 coordinate(s) lie outside the micrograph" in caplog.text
    assert "1 particle(s) too close to the edge" in caplog.text
    blocks = read_star(job / "particles.star")
    relion = read_star(shared_data / FIXTURE / "particles.star")
    assert blocks["optics"].labels == relion["optics"].labels
    labels, theirs = blocks["particles"].labels, relion["particles"].labels
    assert labels == [label for label in theirs if label in labels]  # RELION's columns, in RELION's order
    assert labels[3:6] == ["rlnImageName", "rlnMicrographName", "rlnOpticsGroup"]
    particles = blocks["particles"]
    assert len(particles) == 40 and blocks["optics"]["rlnImageSize"][0] == 64
    assert particles["rlnImageName"][0] == f"000001@{job}/Micrographs/mic001.mrcs"
    info = read_header_info(job / "Micrographs/mic001.mrcs")
    assert info.mode == 12 and info.pixel_size == 4.5  # float16, as RELION's do_float16
    images = read_images(particles["rlnImageName"])
    assert images.shape == (40, 64, 64) and np.isfinite(images).all()
    rows = read_star(job / "Micrographs/mic002_extract.star")["images"]
    assert len(rows) == int((particles["rlnMicrographName"] == MICROGRAPHS[1]).sum())


def test_rescaling_fom_threshold_and_continue(project: Path) -> None:
    values = {"star_mics": "truth/micrographs.star", "coords_suffix": "picks.star", "extract_size": "64",
              "do_rescale": "Yes", "rescale": "32", "do_float16": "No", "do_fom_threshold": "Yes",
              "minimum_pick_fom": "5"}
    job = run_job(job_spec(), values, "Extract/job002")
    optics = read_star(job / "particles.star")["optics"]
    assert optics["rlnImageSize"][0] == 32 and optics["rlnImagePixelSize"][0] == 9.0
    particles = read_star(job / "particles.star")["particles"]
    assert np.all(particles["rlnAutopickFigureOfMerit"] >= 5) and read_header_info(job / "Micrographs/mic001.mrcs").mode == 2
    stamp = (job / "Micrographs/mic001.mrcs").stat().st_mtime_ns
    (job / "Micrographs/mic002_extract.star").unlink()
    run_job(job_spec(), values, "Extract/job002", is_continue=True)
    assert (job / "Micrographs/mic001.mrcs").stat().st_mtime_ns == stamp
    assert len(read_star(job / "particles.star")["particles"]) == len(particles)


def test_reextraction_recentres_on_the_refined_offsets(project: Path) -> None:
    first = run_job(job_spec(), {"star_mics": "truth/micrographs.star", "coords_suffix": "picks.star",
                                 "extract_size": "64"}, "Extract/job003")
    blocks = read_star(first / "particles.star")
    particles = blocks["particles"]
    particles["rlnOriginXAngst"] = np.full(len(particles), 9.0)  # 2 px at 4.5 Å/px
    particles["rlnOriginYAngst"] = np.full(len(particles), -4.5)
    write_star("refined.star", blocks)
    job = run_job(job_spec(), {"star_mics": "truth/micrographs.star", "do_reextract": "Yes",
                               "fndata_reextract": "refined.star", "do_recenter": "Yes", "extract_size": "64"},
                  "Extract/job004")
    moved = read_star(job / "particles.star")["particles"]
    assert np.allclose(moved["rlnCoordinateX"], particles["rlnCoordinateX"] - 2.0)
    assert np.allclose(moved["rlnCoordinateY"], particles["rlnCoordinateY"] + 1.0)
    assert np.allclose(moved["rlnOriginXAngst"], 0.0)
    index = read_star(job / "extractpick.star")["coordinate_files"]
    assert len(index) == 2 and job_spec().label(job_spec().params({"do_reextract": "Yes"})) == "relion.extract.reextract"


def test_empty_coordinate_files_are_reported_and_nothing_to_extract_is_an_error(project: Path,
                                                                               caplog: pytest.LogCaptureFixture) -> None:
    write_coordinates("Micrographs/mic001_pick.star", Table({"rlnCoordinateX": np.empty(0), "rlnCoordinateY": np.empty(0)}))
    with caplog.at_level(logging.INFO):
        job = run_job(job_spec(), {"star_mics": "truth/micrographs.star", "coords_suffix": "picks.star",
                                   "extract_size": "64"}, "Extract/job005")
    assert "mic001_pick.star holds no particles; nothing to extract from Micrographs/mic001.mrc" in caplog.text
    assert set(read_star(job / "particles.star")["particles"]["rlnMicrographName"]) == {MICROGRAPHS[1]}
    write_coordinates("Micrographs/mic002_pick.star", Table({"rlnCoordinateX": np.empty(0), "rlnCoordinateY": np.empty(0)}))
    with pytest.raises(InputError, match="no particles were extracted"):
        run_job(job_spec(), {"star_mics": "truth/micrographs.star", "coords_suffix": "picks.star",
                             "extract_size": "64"}, "Extract/job006")


def test_odd_boxes_and_helices_are_refused() -> None:
    with pytest.raises(ValueError, match="even"):
        job_spec().validate(job_spec().params({"star_mics": "m.star", "coords_suffix": "c.star", "extract_size": "65"}))
    with pytest.raises(ValueError, match="helical"):
        job_spec().validate(job_spec().params({"star_mics": "m.star", "coords_suffix": "c.star", "do_extract_helix": "Yes"}))
