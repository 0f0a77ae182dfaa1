"""The LocalRes job: RELION's own method writes relion_locres.mrc and relion_locres_filtered.mrc; ResMap is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.picking.job_runner import run_job
from tests.post.project import BOX, HALF1, MASK, PIXEL, write_half_maps
from vitreo.io.mrc import read_mrc
from vitreo.jobs.localres_job import job_spec


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_half_maps(tmp_path)
    return tmp_path


def test_local_resolution_maps_and_histogram(project: Path) -> None:
    params = {"fn_in": HALF1, "fn_mask": MASK, "locres_sampling": "20", "adhoc_bfac": "-50"}
    job = run_job(job_spec(), params, "LocalRes/job002")
    resolution, pixel = read_mrc(job / "relion_locres.mrc")
    filtered, _ = read_mrc(job / "relion_locres_filtered.mrc")
    assert resolution.shape == filtered.shape == (BOX,) * 3 and pixel == pytest.approx(PIXEL)
    mask, _ = read_mrc(MASK)
    inside = resolution[(mask > 0.5) & (resolution > 0)]
    assert 2 * PIXEL <= inside.min() and np.median(inside) < 8.0  # half-maps made with FSC 0.143 at 5 Å
    assert (job / "histogram.pdf").is_file()
    spec = job_spec()
    assert spec.label(spec.params(params)) == "relion.localres.own"
    assert [node.file for node in spec.output_nodes(spec.params(params))] == [
        "histogram.pdf", "relion_locres_filtered.mrc", "relion_locres.mrc"]


def test_resmap_is_refused_with_a_clear_message(project: Path) -> None:
    spec = job_spec()
    with pytest.raises(ValueError, match="external program"):
        spec.validate(spec.params({"fn_in": HALF1, "do_resmap_locres": "Yes"}))
    with pytest.raises(ValueError, match="either ResMap or Relion"):
        spec.validate(spec.params({"fn_in": HALF1, "do_relion_locres": "No"}))
