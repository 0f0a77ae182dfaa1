"""Particles do not overlap and orientations follow the requested distribution."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree

from vitreo.em.geometry import euler_to_direction
from vitreo.simulate import preset
from vitreo.simulate.placement import random_orientations, random_positions
from vitreo.simulate.plan import plan_micrograph


def test_positions_keep_their_distance_and_bounds() -> None:
    rng = np.random.default_rng(0)
    first = random_positions(rng, 200, (32, 32, 992, 992), 45.0)
    more = random_positions(rng, 20, (0, 0, 1024, 1024), 45.0, occupied=first)
    assert len(first) == 200 and len(more) == 20
    assert first.min() >= 32 and first.max() <= 992
    everything = np.concatenate([first, more])
    distances, _ = cKDTree(everything).query(everything, k=2)
    assert distances[:, 1].min() >= 45.0


def test_positions_stop_when_the_field_is_full() -> None:
    positions = random_positions(np.random.default_rng(1), 1000, (0, 0, 200, 200), 50.0)
    assert 10 < len(positions) < 25  # hard disks of diameter 50 in 200² jam near 55% coverage


def test_orientations_are_uniform_or_preferred() -> None:
    generator = torch.Generator().manual_seed(0)
    uniform = random_orientations(4000, generator)
    assert torch.allclose(torch.det(uniform), torch.ones(4000, dtype=torch.float64))
    assert abs(float(uniform[:, 2, 2].mean())) < 0.05  # cos(tilt) uniform in [-1, 1]
    preferred = random_orientations(4000, generator, 0.5, (30.0, 60.0), 5.0)
    target = euler_to_direction(torch.tensor(math.radians(30.0)), torch.tensor(math.radians(60.0))).double()
    angles = torch.rad2deg(torch.acos((preferred[:, 2, :] @ target).clamp(-1, 1)))
    near = float((angles < 15.0).double().mean())
    assert 0.48 < near < 0.55  # half the particles within 3σ, plus the uniform ones that fall there
    assert torch.allclose(torch.det(preferred), torch.ones(4000, dtype=torch.float64))


def test_junk_lies_anywhere_on_a_full_field_and_clear_of_particles() -> None:
    """The tutorial's field is nearly jammed; junk must still sit all over it (not only in the
    strips particles leave free at the edges) and where it can be extracted, apart from particles."""
    config = preset("tutorial", junk_fraction=0.1)
    diameter = 200.0 / config.pixel_size
    junk, particles = [], []
    for index in range(3):
        plan = plan_micrograph(config, index, 200.0)
        junk.append(plan.junk_positions)
        particles.append(len(plan.positions))
        if len(plan.junk_positions):
            nearest, _ = cKDTree(plan.positions).query(plan.junk_positions)
            assert nearest.min() >= 1.5 * diameter - 1e-6
    junk = np.concatenate(junk)
    margin = np.minimum(junk, np.array(config.micrograph_size) - junk).min(1)  # distance to the nearest edge
    assert len(junk) > 100 and margin.min() >= config.box / 2
    # uniform over the extractable field: 90 % lie more than a box from every edge
    assert float((margin > config.box).mean()) > 0.8
    assert min(particles) > 0.85 * config.particles_per_micrograph
