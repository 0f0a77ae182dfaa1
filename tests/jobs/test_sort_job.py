"""The Sort job: rlnParticleSelectZScore added to the particles, junk scored worst, bad input refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.picking.datasets import junk_dataset, project_copy
from tests.picking.job_runner import run_job
from vitreo.io.coords import write_coordinates
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star
from vitreo.jobs.extract import job_spec as extract_spec
from vitreo.jobs.sort import job_spec
from vitreo.picking.coordinate_sets import write_coordinate_index
from vitreo.picking.evaluate import roc_auc
from vitreo.picking.references import References, project_map, write_references


@pytest.fixture
def extracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Particles and junk of the junk dataset extracted at their true coordinates (Extract/job001)."""
    root = project_copy(junk_dataset(), tmp_path / "project")
    monkeypatch.chdir(root)
    truth = read_star("truth/particles.star")["particles"]
    files = {}
    for name in np.unique(truth["rlnMicrographName"]):
        rows = truth.select(truth["rlnMicrographName"] == name)
        files[name] = name.replace(".mrc", "_true.star")
        write_coordinates(files[name], Table({"rlnCoordinateX": rows["rlnCoordinateX"],
                                              "rlnCoordinateY": rows["rlnCoordinateY"],
                                              "rlnVitreoIsJunk": rows["rlnVitreoIsJunk"]}))
    write_coordinate_index("true.star", files)
    run_job(extract_spec(), {"star_mics": "truth/micrographs.star", "coords_suffix": "true.star", "extract_size": "64",
                             "do_float16": "No"}, "Extract/job001")
    write_references("refs.mrcs", "refs.star", project_map("truth/map.mrc", 4.5, 1, "D2"))
    return root


def test_sort_adds_z_scores_that_put_the_junk_last(extracted: Path) -> None:
    job = run_job(job_spec(), {"input_star": "Extract/job001/particles.star", "autopick_refs": "refs.star",
                               "particle_diameter": "200"}, "Sort/job002")
    before = read_star("Extract/job001/particles.star")
    after = read_star(job / "particles_sort.star")
    assert after["particles"].labels == [*before["particles"].labels, "rlnParticleSelectZScore"]
    assert len(after["particles"]) == len(before["particles"]) and after["optics"].equals(before["optics"])
    particles = after["particles"]
    assert roc_auc(particles["rlnParticleSelectZScore"], particles["rlnVitreoIsJunk"] == 1) >= 0.9
    assert (job / "logfile.pdf").is_file()


def test_references_must_be_given_once_and_at_their_declared_pixel_size(extracted: Path) -> None:
    spec = job_spec()
    with pytest.raises(ValueError, match="either a model.star"):
        spec.validate(spec.params({"input_star": "p.star"}))
    with pytest.raises(ValueError, match="both"):
        spec.validate(spec.params({"input_star": "p.star", "model_refs": "m.star", "autopick_refs": "r.star"}))
    references = project_map("truth/map.mrc", 4.5, 0, "C1")
    write_references("binned.mrcs", "binned.star", References(references.images, 9.0))
    with pytest.raises(InputError, match="pixel size of 9 Å in their header, but 4.5 Å was declared"):
        run_job(spec, {"input_star": "Extract/job001/particles.star", "autopick_refs": "binned.star"}, "Sort/job003")
    assert not Path("Sort/job003/particles_sort.star").exists()
