"""The same E-step and M-step on a 3D reference (directions × psi), as 3D classification and
refinement will use them: orientations of simulated particles are recovered and the M-step
reconstructs the map."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from vitreo.em.fsc import fsc
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.em.masks import soft_spherical_mask
from vitreo.em.symmetry import symmetry_aware_angular_distance
from vitreo.ml.batch import ImageOptions
from vitreo.ml.expectation import EStepOptions, Expectation, SearchGrid
from vitreo.ml.initial import image_statistics
from vitreo.ml.maximisation import MStepOptions, maximise
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.particles import load_particles
from vitreo.ml.sampling import DirectionSampling, TranslationSampling
from vitreo.ml.statistics import SufficientStatistics
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map

PIXEL, BOX, N = 7.5, 32, 60


def test_three_dimensional_references_use_the_same_engine(tmp_path: Path) -> None:
    volume = torch.from_numpy(default_structure_map(PIXEL, BOX))
    settings = StackSettings(n_particles=N, snr=1.0, max_origin=1.0)
    stack = simulate_particle_stack(volume, PIXEL, settings, torch.Generator().manual_seed(4))
    particles = load_particles(write_particle_stack(stack, settings, tmp_path, truth_columns=False), tmp_path)
    mask = soft_spherical_mask((BOX, BOX), 100 / PIXEL, 3)
    options = ImageOptions(mask)
    noise = image_statistics(particles, particles.offsets, options).sigma2
    n_shells = BOX // 2 + 1
    model = MlModel(
        references=volume[None].float(), class_distribution=torch.ones(1), sigma2_noise=noise,
        scale=torch.ones(1), tau2=torch.zeros(1, n_shells), ssnr=torch.zeros(1, n_shells),
        completeness=torch.zeros(1, n_shells), pixel_size=PIXEL, tau2_fudge=4.0, sigma_offset=2.0,
        current_size=20, current_resolution=math.inf,
    )
    grid = SearchGrid(DirectionSampling(order=2, oversampling=1), TranslationSampling(2.0, 1.0, oversampling=1))
    expectation = Expectation(model, grid, options, EStepOptions())
    stats = SufficientStatistics(1, 3, BOX, expectation.pixels, 1, N, expectation.n_references)
    state = expectation.run(particles, ParticleState.initial(particles.offsets), stats)
    truth = euler_degrees_to_matrix(*(torch.from_numpy(stack.truth[k]) for k in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")))
    found = euler_degrees_to_matrix(*torch.rad2deg(state.angles).unbind(-1))
    error = torch.rad2deg(symmetry_aware_angular_distance(found, truth, "D2"))
    assert float(error.median()) <= 6.0, float(error.median())  # fine sampling: 7.5° directions, 7.5° psi
    origins = torch.stack([torch.from_numpy(stack.truth[k]) for k in ("rlnOriginXAngst", "rlnOriginYAngst")], 1) / PIXEL
    assert float((state.offsets - origins).norm(dim=1).median()) <= 0.75
    new = maximise(model, stats, state, MStepOptions(solvent_mask=soft_spherical_mask((BOX,) * 3, 100 / PIXEL, 3)))
    assert new.references.shape == (1, BOX, BOX, BOX)
    curve = fsc(new.references[0], volume.float())
    assert float(curve[1:10].min()) >= 0.9, curve  # every shell the E-step used (image size 20)


def test_dense_and_gathered_fine_passes_agree(tmp_path: Path, monkeypatch) -> None:
    """The fine pass scores a chunk either over its union of references (shared projections) or per
    particle over its own (gathered): both give the same assignments and statistics."""
    import vitreo.ml.expectation as estep

    volume = torch.from_numpy(default_structure_map(PIXEL, BOX))
    settings = StackSettings(n_particles=24, snr=0.05, max_origin=1.0)  # low SNR: wide, uneven posteriors
    stack = simulate_particle_stack(volume, PIXEL, settings, torch.Generator().manual_seed(8))
    particles = load_particles(write_particle_stack(stack, settings, tmp_path, truth_columns=False), tmp_path)
    options = ImageOptions(soft_spherical_mask((BOX, BOX), 100 / PIXEL, 3))
    n_shells = BOX // 2 + 1
    model = MlModel(
        references=volume[None].float(), class_distribution=torch.ones(1),
        sigma2_noise=image_statistics(particles, particles.offsets, options).sigma2, scale=torch.ones(1),
        tau2=torch.zeros(1, n_shells), ssnr=torch.zeros(1, n_shells), completeness=torch.zeros(1, n_shells),
        pixel_size=PIXEL, tau2_fudge=4.0, sigma_offset=2.0, current_size=16, current_resolution=math.inf,
    )
    grid = SearchGrid(DirectionSampling(order=1, oversampling=1), TranslationSampling(2.0, 1.0, oversampling=1))
    outcomes = []
    for fraction in (0.0, 2.0):  # always dense, never dense
        monkeypatch.setattr(estep, "DENSE_FRACTION", fraction)
        expectation = Expectation(model, grid, options, EStepOptions(batch_size=24))
        stats = SufficientStatistics(1, 3, BOX, expectation.pixels, 1, 24, expectation.n_references)
        state = expectation.run(particles, ParticleState.initial(particles.offsets), stats)
        outcomes.append((state, stats))
    (dense, dense_stats), (gathered, gathered_stats) = outcomes
    assert torch.equal(dense.angles, gathered.angles) and torch.equal(dense.offsets, gathered.offsets)
    assert torch.allclose(dense.log_likelihood, gathered.log_likelihood, rtol=1e-5)
    assert float(dense.pmax.min()) < 0.5  # some posteriors are wide, so the test compares real mixtures
    for a, b in ((dense_stats.noise, gathered_stats.noise), (dense_stats.backprojectors[0].weight, gathered_stats.backprojectors[0].weight)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(a.abs().max()))
