"""The Refine3D job: RELION's parameters mapped to the engine, a short run in a project (Auto
messages in the log, final files, angular distribution plot), bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from tests.ml.phantom3d import blob_phantom, simulate, write_map
from tests.picking.job_runner import run_job
from vitreo.em.filters import lowpass
from vitreo.io.errors import InputError
from vitreo.jobs.refine3d_job import job_spec, settings_from
from vitreo.jobs.registry import find_spec

BOX, PIXEL = 24, 8.0
VALUES = {"fn_img": "Particles/particles.star", "fn_ref": "ref.mrc", "ini_high": "40", "particle_diameter": "150",
          "offset_range": "3", "offset_step": "1", "sampling": "7.5 degrees", "auto_local_sampling": "3.7 degrees",
          "max_iter": "2"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_parameters_follow_relion() -> None:
    spec = find_spec("relion.refine3d")
    assert spec.directory == "Refine3D"
    defaults = settings_from(spec.params({"fn_img": "x.star", "fn_ref": "r.mrc"}))
    assert defaults.healpix_order == 2 and defaults.local_healpix_order == 4  # 7.5 and 1.8 degrees
    assert defaults.offset_step == 2.0 and defaults.ini_high == 40.0 and defaults.tau_fudge == 1.0
    with pytest.raises(ValueError, match="fn_mask"):
        spec.validate(spec.params({**VALUES, "do_solvent_fsc": "Yes"}))


def test_short_run_logs_auto_decisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    volume = blob_phantom(BOX)
    simulate(volume, PIXEL, 60, 2.0, 6, tmp_path, "particles", random_subsets=False)
    write_map(tmp_path / "ref.mrc", lowpass(volume.double(), 40.0, PIXEL, ndim=3).float(), PIXEL)
    handler = _Collect()
    log = logging.getLogger("vitreo.test.refine3d_job")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        job = run_job(job_spec(), VALUES, "Refine3D/job001", log=log)
    finally:
        log.removeHandler(handler)
    auto = [line for line in handler.lines if "Auto" in line]
    assert any(line.startswith(" Auto-refine: Angular step= 7.5 degrees") for line in auto)
    assert any("Final resolution (without masking)" in line for line in auto)
    for name in ("run_class001.mrc", "run_half1_class001_unfil.mrc", "run_half2_class001_unfil.mrc", "run_model.star",
                 "run_data.star", "run_class001_angdist.png", "run_it001_half1_class001.mrc", "run_it002_half2_model.star"):
        assert (job / name).is_file(), name
    write_map(tmp_path / "coarse.mrc", torch.zeros(BOX, BOX, BOX), 2 * PIXEL)
    with pytest.raises(InputError, match="coarse.mrc.*A/px.*--rescale"):
        run_job(job_spec(), {**VALUES, "fn_ref": "coarse.mrc"}, "Refine3D/job002")
