"""The InitialModel job: RELION's outputs, continuation from an _optimiser.star, bad start maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.picking.job_runner import run_job
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import Table, read_star
from vitreo.jobs.initialmodel_job import job_spec, settings_from
from vitreo.jobs.registry import find_spec
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map

PIXEL, BOX, N = 10.0, 24, 80
FAST = {"fn_img": "Particles/particles.star", "particle_diameter": "230", "sgd_ini_iter": "2", "sgd_inbetween_iter": "0",
        "sgd_fin_iter": "2", "sgd_write_iter": "2", "sgd_ini_resol": "40", "sgd_fin_resol": "30",
        "sgd_ini_subset_size": "30", "sgd_fin_subset_size": "40", "sampling": "30 degrees", "offset_range": "2",
        "offset_step": "1"}


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    volume = default_structure_map(PIXEL, BOX)
    settings = StackSettings(n_particles=N, snr=1.0, max_origin=1.0)
    stack = simulate_particle_stack(torch.from_numpy(volume), PIXEL, settings, torch.Generator().manual_seed(2))
    write_particle_stack(stack, settings, tmp_path, truth_columns=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path, volume


def test_job_type_is_registered_with_relion_names() -> None:
    spec = find_spec("relion.initialmodel")
    assert spec.directory == "InitialModel" and spec.continue_option == "fn_cont"
    params = spec.defaults()
    assert params.text("sym_name") == "C1" and params.text("sampling") == "15 degrees"
    assert params.number("tau_fudge") == 4 and params.number("offset_range") == 6
    settings = settings_from(params)
    assert settings.healpix_order == 1 and settings.offset_step == 4.0  # coarse: half the GUI's sampling
    assert settings.schedule.n_iterations == 300 and settings.schedule.ini_subset == 100


def test_job_writes_relion_outputs_and_continues(project) -> None:
    root, _ = project
    job = run_job(job_spec(), FAST, "InitialModel/job001")
    for it in (2, 4):
        for suffix in ("class001.mrc", "model.star", "data.star", "sampling.star", "optimiser.star"):
            assert (job / f"run_it{it:03d}_{suffix}").is_file(), (it, suffix)
    assert not (job / "run_it001_model.star").exists()
    volume, pixel = read_mrc(job / "initial_model.mrc")
    assert volume.shape == (BOX,) * 3 and pixel == pytest.approx(PIXEL)
    model = read_star(job / "run_it004_model.star")
    classes = model["model_classes"]
    assert isinstance(classes, Table)
    assert str(classes["rlnReferenceImage"][0]) == "InitialModel/job001/run_it004_class001.mrc"
    assert model["model_general"]["rlnReferenceDimensionality"] == 3
    data = read_star(job / "run_it004_data.star")
    particles = data["particles"]
    assert isinstance(particles, Table) and len(particles) == N and "optics" in data
    assert {"rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginXAngst", "rlnClassNumber"} <= set(particles.columns)
    optimiser = read_star(job / "run_it004_optimiser.star")["optimiser_general"]
    assert optimiser["rlnCurrentIteration"] == 4 and optimiser["rlnSgdFinalIterations"] == 2
    # continue for two more final iterations
    more = {**FAST, "sgd_fin_iter": "4", "fn_cont": "InitialModel/job001/run_it004_optimiser.star"}
    run_job(job_spec(), more, "InitialModel/job001", is_continue=True)
    assert (job / "run_it006_class001.mrc").is_file()
    assert read_star(job / "run_it006_optimiser.star")["optimiser_general"]["rlnCurrentIteration"] == 6
    assert not (job / "run_it005_model.star").exists()


def test_start_map_of_another_box_is_refused_before_any_iteration(project) -> None:
    root, volume = project
    write_mrc(root / "start.mrc", np.zeros((BOX + 2,) * 3, np.float32), PIXEL)
    with pytest.raises(InputError, match="--rescale"):
        run_job(job_spec(), {**FAST, "fn_ref": "start.mrc"}, "InitialModel/job002")
    assert not list((root / "InitialModel/job002").glob("run_it*"))
