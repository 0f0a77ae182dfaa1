"""RELION's expected accuracies: they follow the signal-to-noise ratio the model assumes, and hit
the ends of RELION's ladders when a particle is told apart by the smallest error or never."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.ml.phantom3d import blob_phantom, simulate
from vitreo.em.masks import soft_spherical_mask
from vitreo.ml.accuracy import ANGLE_ERRORS, SHIFT_ERRORS, expected_accuracies
from vitreo.ml.batch import ImageOptions
from vitreo.ml.initial import image_statistics
from vitreo.ml.driver import first_model
from vitreo.ml.model import ParticleState
from vitreo.ml.particles import load_particles

BOX, PIXEL, N = 24, 8.0, 40


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    project = tmp_path_factory.mktemp("accuracy")
    truth = blob_phantom(BOX)
    stack, star = simulate(truth, PIXEL, N, 1.0, 5, project)
    particles = load_particles(star, project)
    options = ImageOptions(soft_spherical_mask((BOX, BOX), 150 / PIXEL / 2, 3))
    stats = image_statistics(particles, particles.offsets, options)
    model = first_model(truth[None], stats, particles, 1.0, 2.0, BOX)
    angles = np.deg2rad(np.stack([stack.truth[k] for k in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")], 1))
    state = ParticleState.initial(particles.offsets)
    state.angles = torch.from_numpy(angles)
    return {"model": model, "particles": particles, "options": options, "state": state}


def _accuracies(setup: dict, noise_factor: float, size: int = BOX) -> tuple[float, float]:
    model = replace(setup["model"], sigma2_noise=setup["model"].sigma2_noise * noise_factor, current_size=size)
    rot, trans = expected_accuracies(model, setup["particles"], torch.arange(N), setup["state"], setup["options"],
                                     torch.Generator().manual_seed(0))
    return float(rot[0]), float(trans[0])


def test_accuracies_follow_the_noise_level(setup: dict) -> None:
    rot, trans = zip(*(_accuracies(setup, factor) for factor in (1.0, 10.0, 100.0)))
    assert rot[0] < rot[1] < rot[2] and trans[0] < trans[1] < trans[2], (rot, trans)
    # a difference power that grows as δ² (small δ) needs √10 ≈ 3.2× the error for 10× the noise
    assert 2.0 < rot[1] / rot[0] < 5.0 and 2.0 < trans[1] / trans[0] < 5.0, (rot, trans)


def test_fewer_pixels_mean_coarser_accuracy(setup: dict) -> None:
    assert _accuracies(setup, 10.0, size=12)[0] > _accuracies(setup, 10.0)[0]


def test_ladder_ends(setup: dict) -> None:
    assert _accuracies(setup, 1e-9) == pytest.approx((ANGLE_ERRORS[0], SHIFT_ERRORS[0]))
    assert _accuracies(setup, 1e9) == pytest.approx((ANGLE_ERRORS[-1], SHIFT_ERRORS[-1]))


def test_classes_without_trial_particles_are_unknown(setup: dict) -> None:
    model = setup["model"]
    two = replace(model, references=model.references.repeat(2, 1, 1, 1), class_distribution=torch.tensor([1.0, 0.0]))
    rot, trans = expected_accuracies(two, setup["particles"], torch.arange(N), setup["state"], setup["options"],
                                     torch.Generator().manual_seed(0))
    assert float(rot[1]) == 999.0 and float(trans[1]) == 999.0 and float(rot[0]) < 999.0


def test_it_runs_on_a_subset_of_particles(setup: dict) -> None:
    ids = torch.arange(0, N, 2)
    rows = ParticleState(**{name: value[ids] for name, value in setup["state"].__dict__.items()})
    rot, _ = expected_accuracies(setup["model"], setup["particles"], ids, rows, setup["options"], torch.Generator().manual_seed(1))
    assert 0 < float(rot[0]) < 999.0
