"""The Class3D job: RELION's parameters mapped to the engine, a short run in a project, bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from tests.ml.phantom3d import blob_phantom, simulate, write_map
from tests.picking.job_runner import run_job
from vitreo.em.filters import lowpass
from vitreo.io.errors import InputError
from vitreo.io.star import read_star
from vitreo.jobs.class3d_job import job_spec, settings_from
from vitreo.jobs.registry import find_spec

BOX, PIXEL = 24, 8.0
VALUES = {"fn_img": "Particles/particles.star", "fn_ref": "ref.mrc", "nr_classes": "2", "nr_iter": "1",
          "ini_high": "30", "particle_diameter": "150", "offset_range": "3", "offset_step": "1", "sampling": "15 degrees"}


def test_parameters_follow_relion() -> None:
    spec = find_spec("relion.class3d")
    assert spec.directory == "Class3D"
    settings = settings_from(spec.params({**VALUES, "do_local_ang_searches": "Yes", "sigma_angles": "3",
                                          "sym_name": "D2", "tau_fudge": "2"}))
    assert settings.healpix_order == 1 and settings.offset_step == 2.0 and settings.sigma_angles == 3.0
    assert settings.symmetry == "D2" and settings.tau_fudge == 2.0 and settings.nr_classes == 2
    defaults = settings_from(spec.params({"fn_img": "x.star", "fn_ref": "r.mrc"}))
    assert defaults.healpix_order == 2 and defaults.tau_fudge == 4.0 and defaults.ini_high == 60.0
    with pytest.raises(ValueError, match="dont_skip_align"):
        spec.validate(spec.params({**VALUES, "dont_skip_align": "No"}))


def test_short_run_and_bad_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    volume = blob_phantom(BOX)
    simulate(volume, PIXEL, 60, 2.0, 5, tmp_path, "particles")
    write_map(tmp_path / "ref.mrc", lowpass(volume.double(), 30.0, PIXEL, ndim=3).float(), PIXEL)
    job = run_job(job_spec(), VALUES, "Class3D/job001", log=logging.getLogger("vitreo.test.class3d_job"))
    for name in ("run_it001_class001.mrc", "run_it001_class002.mrc", "run_it001_model.star", "run_it001_data.star"):
        assert (job / name).is_file(), name
    optimiser = (job / "run_it001_optimiser.star").read_text()
    assert optimiser.startswith("# vitreo class3d") and "--nr_classes 2" in optimiser.splitlines()[0]
    assert read_star(job / "run_it001_model.star")["model_general"]["rlnNrClasses"] == 2
    write_map(tmp_path / "big.mrc", torch.zeros(32, 32, 32), PIXEL)
    with pytest.raises(InputError, match="big.mrc.*box of 32 px.*--rescale"):
        run_job(job_spec(), {**VALUES, "fn_ref": "big.mrc"}, "Class3D/job002")
