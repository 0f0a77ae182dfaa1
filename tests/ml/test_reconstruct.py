"""Reconstruction from aligned particles against simulated ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vitreo.em.fsc import fsc, resolution_at
from vitreo.io.errors import InputError
from vitreo.io.star import read_star, write_star
from vitreo.ml.aligned import load_aligned_particles
from vitreo.ml.reconstruct import gold_standard, reconstruct
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map

PIXEL = 7.08  # Å: betagal in a 50-pixel box keeps these tests fast
BOX = 50


@pytest.fixture(scope="module")
def truth_map() -> torch.Tensor:
    return torch.from_numpy(default_structure_map(PIXEL, BOX))


def simulated_project(tmp_path: Path, volume: torch.Tensor, settings: StackSettings, seed: int = 0) -> Path:
    stack = simulate_particle_stack(volume, PIXEL, settings, torch.Generator().manual_seed(seed))
    return write_particle_stack(stack, settings, tmp_path)


def shell_at(fraction_of_nyquist: float) -> int:
    return int(fraction_of_nyquist * BOX / 2)


def test_noise_free_ctf_reconstruction_recovers_the_map(tmp_path: Path, truth_map: torch.Tensor) -> None:
    settings = StackSettings(n_particles=1500, snr=float("inf"), defocus_min=5000, defocus_max=25000)
    star = simulated_project(tmp_path, truth_map, settings)
    particles = load_aligned_particles(star, project_dir=tmp_path)
    assert particles.ctf is not None and len(particles) == 1500
    curve = fsc(reconstruct(particles), truth_map)
    assert float(curve[1 : shell_at(0.8) + 1].min()) >= 0.9


def test_origins_follow_relion_convention(tmp_path: Path, truth_map: torch.Tensor) -> None:
    """Negating the recorded origins must spoil the map: the test of the sign convention."""
    settings = StackSettings(n_particles=600, snr=float("inf"), max_origin=4.0)
    star = simulated_project(tmp_path, truth_map, settings)
    right = load_aligned_particles(star, project_dir=tmp_path)
    wrong = right.__class__(**{**right.__dict__, "origins": -right.origins})
    good = fsc(reconstruct(right), truth_map)[shell_at(0.5)]
    bad = fsc(reconstruct(wrong), truth_map)[shell_at(0.5)]
    assert good > 0.9 > bad + 0.3


def test_gold_standard_resolution_matches_truth(tmp_path: Path, truth_map: torch.Tensor) -> None:
    """The half-map FSC at 0.143 predicts the FSC against the truth at 0.5 (within 15%)."""
    settings = StackSettings(n_particles=2000, snr=0.05)
    star = simulated_project(tmp_path, truth_map, settings)
    particles = load_aligned_particles(star, project_dir=tmp_path)
    result = gold_standard(particles)
    estimated = resolution_at(result.fsc, 0.143, PIXEL, BOX)
    actual = resolution_at(fsc(result.full, truth_map), 0.5, PIXEL, BOX)
    assert 2 * PIXEL < actual < 40.0
    assert estimated == pytest.approx(actual, rel=0.15)
    symmetric = gold_standard(particles, symmetry="D2")
    assert resolution_at(symmetric.fsc, 0.143, PIXEL, BOX) < estimated  # D2 averages 4x more views


def test_missing_particles_block(tmp_path: Path) -> None:
    star = tmp_path / "empty.star"
    write_star(star, {"general": {"rlnImageSize": 64}})
    with pytest.raises(InputError, match="empty.star"):
        load_aligned_particles(star)


def test_missing_optics_group(tmp_path: Path, truth_map: torch.Tensor) -> None:
    settings = StackSettings(n_particles=4, snr=float("inf"))
    star = simulated_project(tmp_path, truth_map, settings)
    blocks = read_star(star)
    blocks["particles"]["rlnOpticsGroup"] = np.full(4, 7)
    write_star(star, blocks)
    with pytest.raises(InputError, match="rlnOpticsGroup 7"):
        load_aligned_particles(star, project_dir=tmp_path)
