"""Nuisance parameters against simulated truth: noise spectra per group, norm correction, the
simulator's junk and truth columns, and noise filling outside the particle mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import read_star
from vitreo.ml.batch import ImageOptions, prepare_batch
from vitreo.ml.class2d import Class2DSettings, run_class2d
from vitreo.ml.particles import load_particles
from vitreo.ml.pixels import FourierPixels
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map

PIXEL, BOX, N = 7.5, 32, 120


@pytest.fixture(scope="module")
def noisy_halves(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two micrographs of 60 particles each at SNR 0.05 (so that what the classes do not explain
    adds little to the noise); the second's images have twice the noise."""
    project = tmp_path_factory.mktemp("noise")
    volume = torch.from_numpy(default_structure_map(PIXEL, BOX))
    settings = StackSettings(n_particles=N, snr=0.05, max_origin=1.0, n_micrographs=2)
    stack = simulate_particle_stack(volume, PIXEL, settings, torch.Generator().manual_seed(5))
    star = write_particle_stack(stack, settings, project, truth_columns=False)
    images, _ = read_mrc(project / "Particles" / "particles.mrcs")
    extra = np.random.default_rng(0).normal(size=images[N // 2 :].shape) * stack.noise_std * np.sqrt(3.0)
    images[N // 2 :] += extra.astype(np.float32)  # noise variance × 4 on micrograph 2
    write_mrc(project / "Particles" / "particles.mrcs", images, PIXEL, is_stack=True)
    return star


def _settings(**changes: object) -> Class2DSettings:
    base = {"nr_classes": 2, "nr_iter": 3, "particle_diameter": 200, "psi_step": 15, "offset_range": 2,
            "offset_step": 1, "threads": 1}
    return Class2DSettings(**{**base, **changes})


def test_noise_spectra_are_estimated_per_micrograph(noisy_halves: Path, tmp_path: Path) -> None:
    project = noisy_halves.parents[1]
    result = run_class2d(noisy_halves, tmp_path / "run", _settings(norm_correction=False), project_dir=project)
    sigma2 = result.model.sigma2_noise
    ratio = sigma2[1, 3 : BOX // 2] / sigma2[0, 3 : BOX // 2]
    assert float(ratio.median()) == pytest.approx(4.0, rel=0.1), float(ratio.median())
    groups = read_star(result.files["model"])["model_groups"]
    assert list(groups["rlnGroupNrParticles"]) == [N // 2, N // 2]


def test_norm_correction_measures_each_particles_noise(noisy_halves: Path, tmp_path: Path) -> None:
    project = noisy_halves.parents[1]
    result = run_class2d(noisy_halves, tmp_path / "run", _settings(), project_dir=project)
    norm = result.state.norm
    ratio = float(norm[N // 2 :].median() / norm[: N // 2].median())
    assert ratio == pytest.approx(2.0, rel=0.1), ratio
    data = read_star(result.files["data"])["particles"]
    assert np.allclose(data["rlnNormCorrection"], norm.numpy(), rtol=1e-5)


def test_simulated_junk_is_flagged_and_truth_columns_are_optional(tmp_path: Path) -> None:
    volume = torch.from_numpy(default_structure_map(PIXEL, BOX))
    settings = StackSettings(n_particles=50, snr=1.0, junk_fraction=0.2)
    stack = simulate_particle_stack(volume, PIXEL, settings, torch.Generator().manual_seed(2))
    assert int(stack.truth["rlnVitreoIsJunk"].sum()) == 10
    blind = read_star(write_particle_stack(stack, settings, tmp_path, truth_columns=False))["particles"]
    assert "rlnAnglePsi" not in blind and "rlnVitreoIsJunk" not in blind and "rlnDefocusU" in blind
    full = read_star(write_particle_stack(stack, settings, tmp_path / "full"))["particles"]
    assert list(full["rlnVitreoIsJunk"]) == list(stack.truth["rlnVitreoIsJunk"])
    with pytest.raises(ValueError):
        StackSettings(junk_kinds=("ice cube",))


def test_noise_fills_the_outside_of_the_mask(noisy_halves: Path) -> None:
    particles = load_particles(noisy_halves, noisy_halves.parents[1])
    pixels = FourierPixels.for_size(BOX, BOX)
    mask = (torch.arange(BOX) - BOX // 2).square()
    mask = ((mask[:, None] + mask[None, :]) < 100).float()
    model = _unit_model(particles.n_groups)
    ids = torch.arange(4)
    ones = torch.ones(4, dtype=torch.float64)
    filled = prepare_batch(particles, ids, particles.offsets[ids], ones, model, pixels, ImageOptions(mask, "noise"))
    zeroed = prepare_batch(particles, ids, particles.offsets[ids], ones, model, pixels, ImageOptions(mask, "zero"))
    outside = lambda data: torch.fft.irfft2(pixels.scatter(data, BOX), s=(BOX, BOX))[:, mask == 0]  # noqa: E731
    assert float(outside(zeroed.data).std()) < 0.3 * float(outside(filled.data).std())  # band-limited: not 0
    assert float(outside(filled.data).std()) > 0.5 * float(particles.images[:4].std())


def _unit_model(n_groups: int):
    from vitreo.ml.model import MlModel

    n_shells = BOX // 2 + 1
    return MlModel(
        references=torch.zeros(1, BOX, BOX), class_distribution=torch.ones(1), sigma2_noise=torch.ones(n_groups, n_shells),
        scale=torch.ones(n_groups), tau2=torch.zeros(1, n_shells), ssnr=torch.zeros(1, n_shells),
        completeness=torch.zeros(1, n_shells), pixel_size=PIXEL, tau2_fudge=2.0, sigma_offset=1.0,
        current_size=BOX, current_resolution=float("inf"),
    )
