"""Aligning a map's symmetry axes to RELION's: recovery of known rotations of symmetric phantoms."""

from __future__ import annotations

import math

import pytest
import torch

from vitreo.em.geometry import angular_distance, random_rotations
from vitreo.em.image_ops import centred_coordinates, rotate_volume
from vitreo.em.symmetry import proper_operators, symmetrise_volume, symmetry_operators
from vitreo.em.symmetry_alignment import (
    SymmetryScorer,
    align_symmetry,
    axis_angle_to_matrix,
    generating_operators,
)


def symmetric_phantom(sym: str, size: int, rotation: torch.Tensor | None = None, seed: int = 0, blobs: int = 5) -> torch.Tensor:
    """Gaussian blobs at random points p and all their copies g·p, turned by ``rotation`` Q: a map
    v(Qᵀ r) with v exactly invariant under ``sym`` in RELION's setting (analytic, no interpolation)."""
    generator = torch.Generator().manual_seed(seed)
    points = (torch.rand(blobs, 3, generator=generator, dtype=torch.float64) - 0.5) * size * 0.5
    sigma = 1.2 + 1.2 * torch.rand(blobs, generator=generator, dtype=torch.float64)
    height = 0.5 + torch.rand(blobs, generator=generator, dtype=torch.float64)
    ops = symmetry_operators(sym)
    centres = (points @ ops.transpose(-1, -2)).reshape(-1, 3)
    if rotation is not None:
        centres = centres @ rotation.T.to(centres)
    sigma, height = sigma.repeat(len(ops)), height.repeat(len(ops))
    d2 = (centred_coordinates(size, dtype=torch.float64)[..., None, :] - centres).square().sum(-1)
    return (height * torch.exp(-d2 / (2 * sigma**2))).sum(-1)


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_generating_operators_generate_the_group() -> None:
    for sym, expected in (("C7", 1), ("D2", 2), ("D7", 2), ("T", 2), ("O", 2), ("I", 2), ("C3v", 2)):
        gens = generating_operators(symmetry_operators(sym))
        assert len(gens) == expected, sym
    assert len(generating_operators(symmetry_operators("C1"))) == 0


def test_axis_angle_matches_rodrigues() -> None:
    vector = torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64)
    quarter = axis_angle_to_matrix(vector)  # 90° about z: x -> y
    assert torch.allclose(quarter @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
                          torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), atol=1e-12)
    vectors = torch.randn(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    angles = angular_distance(torch.eye(3, dtype=torch.float64), axis_angle_to_matrix(vectors))
    expected = torch.linalg.vector_norm(vectors, dim=-1) % (2 * math.pi)
    expected = torch.where(expected > math.pi, 2 * math.pi - expected, expected)
    assert torch.allclose(angles, expected, atol=1e-9)


def test_score_is_one_for_an_exactly_symmetric_map_and_lower_when_turned() -> None:
    volume = symmetric_phantom("D2", 32)
    scorer = SymmetryScorer(volume, generating_operators(symmetry_operators("D2")))
    turned = random_rotations(4, generator=torch.Generator().manual_seed(2))
    scores = scorer(torch.cat([torch.eye(3, dtype=torch.float64)[None], turned]))
    assert scores[0] > 0.99
    assert (scores[1:] < 0.9).all()


# (group, the group's normaliser in SO(3) or None for "rotations about z") — aligned maps are
# unique only up to the normaliser: D2 -> O (axis permutations), D7 -> D14, C4 -> any turn about z.
CASES = [("D2", "O", 3), ("D7", "D14", 4), ("C4", None, 5)]


@pytest.mark.parametrize(("sym", "normaliser", "seed"), CASES)
def test_align_symmetry_recovers_a_random_rotation(sym: str, normaliser: str | None, seed: int) -> None:
    q = random_rotations(1, generator=torch.Generator().manual_seed(seed))[0]
    volume = symmetric_phantom(sym, 32, q, seed=seed)
    result = align_symmetry(volume, sym, fine_box=32)
    residual = result.rotation @ q  # maps the phantom's own axes to RELION's: must lie in the normaliser
    if normaliser is None:
        error = math.degrees(math.acos(min(1.0, abs(float(residual[2, 2])))))
    else:
        error = math.degrees(float(angular_distance(residual[None], proper_operators(normaliser)).min()))
    assert error < 2.0
    aligned = rotate_volume(volume, result.rotation)
    assert correlation(aligned, symmetrise_volume(aligned, sym)) > 0.995
    assert correlation(volume, symmetrise_volume(volume, sym)) < 0.97  # the test can fail: unaligned is not invariant


def test_aligned_map_keeps_its_orientation() -> None:
    volume = symmetric_phantom("D2", 32, seed=7)
    result = align_symmetry(volume, "D2", fine_box=32)
    assert math.degrees(float(angular_distance(result.rotation, torch.eye(3, dtype=torch.float64)))) < 1.0
