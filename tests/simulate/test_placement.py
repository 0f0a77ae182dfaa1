"""Particles do not overlap and orientations follow the requested distribution."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree

from vitreo.em.geometry import euler_to_direction
from vitreo.simulate.placement import random_orientations, random_positions


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
