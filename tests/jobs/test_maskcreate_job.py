"""The MaskCreate job: mask.mrc from a map, with RELION's options and node type; bad input refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.picking.job_runner import run_job
from tests.post.project import MAP, PIXEL, write_half_maps
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.jobs.maskcreate_job import job_spec


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_half_maps(tmp_path)
    return tmp_path


def test_mask_covers_the_particle_with_a_soft_edge(project: Path) -> None:
    average, _ = read_mrc(MAP)
    threshold = 0.1 * float(average.max())
    job = run_job(job_spec(), {"fn_in": MAP, "inimask_threshold": str(threshold), "lowpass_filter": "10",
                               "extend_inimask": "2", "width_mask_edge": "4"}, "MaskCreate/job002")
    mask, pixel = read_mrc(job / "mask.mrc")
    assert pixel == pytest.approx(PIXEL) and mask.shape == average.shape
    assert mask.min() >= 0 and mask.max() == 1
    soft = ((mask > 0.01) & (mask < 0.99)).sum()
    assert soft > 0.1 * (mask >= 0.5).sum()  # a real soft edge
    strong = average > 0.5 * average.max()
    assert mask[strong].min() == 1.0  # the particle's density is inside
    corner = np.zeros_like(mask, dtype=bool)
    corner[:4, :4, :4] = True
    assert mask[corner].max() == 0.0
    assert [node.type_label for node in job_spec().output_nodes(job_spec().defaults())] == ["Mask3D.mrc.relion"]


def test_options_are_relions(project: Path) -> None:
    names = {option.name for option in job_spec().options}
    assert {"fn_in", "lowpass_filter", "angpix", "inimask_threshold", "extend_inimask", "width_mask_edge",
            "do_helix", "helical_z_percentage"} <= names
    defaults = job_spec().defaults()
    assert (defaults["lowpass_filter"], defaults["angpix"], defaults["inimask_threshold"],
            defaults["extend_inimask"], defaults["width_mask_edge"]) == ("15", "-1", "0.02", "3", "3")


def test_bad_input_is_one_clear_error(project: Path) -> None:
    with pytest.raises(InputError, match="missing.mrc: file not found"):
        run_job(job_spec(), {"fn_in": "missing.mrc"}, "MaskCreate/job003")
    with pytest.raises(InputError, match="binarisation threshold"):
        run_job(job_spec(), {"fn_in": MAP, "inimask_threshold": "1000"}, "MaskCreate/job004")
    write_mrc("nopixel.mrc", np.ones((8, 8, 8), np.float32), 0.0)
    with pytest.raises(InputError, match="no pixel size"):
        run_job(job_spec(), {"fn_in": "nopixel.mrc"}, "MaskCreate/job005")
    assert not Path("MaskCreate/job004/mask.mrc").exists()
