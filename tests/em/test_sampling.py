"""HEALPix directions, psi angles, offsets, oversampling, local searches and asymmetric units."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vitreo.em.geometry import euler_to_direction
from vitreo.em.healpix import max_pixrad, npix, pix2ang_nest
from vitreo.em.sampling import (
    _lexicographic_independent_set,
    angular_step_deg,
    asymmetric_unit_directions,
    healpix_directions,
    local_direction_weights,
    local_directions,
    oversample_directions,
    oversample_psi,
    oversample_translations,
    psi_angles,
    translations,
)
from vitreo.em.symmetry import in_asymmetric_unit, symmetry_operators, symmetry_order


def _nearest_mate_distance(rot: torch.Tensor, tilt: torch.Tensor, kept_rot, kept_tilt, sym: str) -> torch.Tensor:
    """Angle from each direction to the nearest symmetry mate g·v of a kept direction."""
    kept = euler_to_direction(kept_rot, kept_tilt)
    mates = torch.einsum("gij,kj->gki", symmetry_operators(sym), kept).reshape(-1, 3)
    return torch.acos((euler_to_direction(rot, tilt) @ mates.T).amax(-1).clamp(-1, 1))


@pytest.mark.parametrize("order", range(6))
def test_healpix_counts(order):
    rot, tilt = healpix_directions(order)
    assert rot.shape == tilt.shape == (12 * 4**order,) == (npix(order),)
    assert rot.dtype == torch.float64
    assert (rot > -math.pi).all() and (rot <= math.pi).all() and (tilt >= 0).all() and (tilt <= math.pi).all()


@pytest.mark.parametrize("order", range(7))
def test_pix2ang_nest_matches_astropy_healpix(order):
    astropy_healpix = pytest.importorskip("astropy_healpix")
    pixels = np.arange(npix(order))
    lon, lat = astropy_healpix.healpix_to_lonlat(pixels, 2**order, order="nested")
    theta, phi = pix2ang_nest(order, torch.from_numpy(pixels))
    np.testing.assert_allclose(theta.numpy(), np.pi / 2 - lat.to_value("rad"), rtol=0, atol=1e-12)
    np.testing.assert_allclose(phi.numpy(), lon.to_value("rad"), rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", range(1, 5))
def test_nearest_neighbour_spacing(order):
    v = euler_to_direction(*healpix_directions(order))
    cos = v @ v.T
    cos.fill_diagonal_(-1)
    spacing = torch.rad2deg(torch.acos(cos.amax(-1).clamp(-1, 1)))
    assert spacing.mean().item() == pytest.approx(58.6 / 2**order, rel=0.15)


def test_angular_step_is_relions():
    assert [angular_step_deg(k) for k in range(6)] == [60.0, 30.0, 15.0, 7.5, 3.75, 1.875]


def test_psi_angles():
    psi = psi_angles(15.0)
    assert len(psi) == 24 and psi[0] == 0
    torch.testing.assert_close(torch.diff(psi), torch.full((23,), math.radians(15.0), dtype=torch.float64))
    psi = psi_angles(7.0)  # RELION: ceil(360/7) = 52 angles, 360/52 apart
    assert len(psi) == 52
    assert psi[1].item() == pytest.approx(2 * math.pi / 52)
    with pytest.raises(ValueError):
        psi_angles(0.0)


def test_translations_grid_within_circle():
    assert translations(0.0, 1.0).tolist() == [[0.0, 0.0]]
    offsets = translations(5.0, 1.0)
    assert len(offsets) == 81  # integer points with x² + y² <= 25, the circle included
    assert (offsets.norm(dim=-1) <= 5.0 + 1e-9).all()
    assert [5.0, 0.0] in offsets.tolist() and [4.0, 3.0] in offsets.tolist() and [4.0, 4.0] not in offsets.tolist()
    coarse = translations(6.0, 2.0)
    assert len(coarse) == 29
    assert coarse[0].tolist() == [-6.0, 0.0] and coarse[1].tolist() == [-4.0, -4.0]  # x outer, y inner


@pytest.mark.parametrize("oversampling", [1, 2])
def test_oversampled_directions_are_the_nest_children(oversampling):
    order, pixels = 2, torch.tensor([0, 77, 191])
    rot, tilt = oversample_directions(order, pixels, oversampling)
    children = 4**oversampling
    assert rot.shape == (3, children)
    fine_rot, fine_tilt = healpix_directions(order + oversampling)
    fine = euler_to_direction(fine_rot, fine_tilt)
    got = euler_to_direction(rot, tilt)
    index = (got.reshape(-1, 3) @ fine.T).argmax(-1).reshape(3, children)
    expected = pixels[:, None] * children + torch.arange(children)
    assert torch.equal(index.sort(-1).values, expected)
    if oversampling == 2:  # RELION's order: face-local y outer, x inner
        assert (index[0] - expected[0, 0]).tolist() == [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]
    parent = euler_to_direction(*healpix_directions(order))[pixels]
    assert (torch.acos((got @ parent[:, :, None]).squeeze(-1).clamp(-1, 1)) < max_pixrad(order)).all()


def test_oversampled_psi_and_offsets():
    step = math.radians(15.0)
    psi = torch.tensor([0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(oversample_psi(psi, step, 1), torch.stack([psi - step / 4, psi + step / 4], dim=-1))
    assert oversample_psi(psi, step, 3).mean(-1).sub(psi).abs().max() < 1e-12
    offsets = oversample_translations(torch.tensor([[2.0, -1.0]], dtype=torch.float64), 2.0, 1)
    assert offsets.tolist() == [[[1.5, -1.5], [1.5, -0.5], [2.5, -1.5], [2.5, -0.5]]]


def test_local_weights_centred_on_prior():
    rot, tilt = healpix_directions(3)
    prior_rot = torch.tensor([0.4, -2.0], dtype=torch.float64)
    prior_tilt = torch.tensor([1.1, 0.3], dtype=torch.float64)
    sigma = math.radians(5.0)
    weights = local_direction_weights(prior_rot, prior_tilt, rot, tilt, sigma)
    assert weights.shape == (2, len(rot))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, dtype=torch.float64))
    v, prior = euler_to_direction(rot, tilt), euler_to_direction(prior_rot, prior_tilt)
    distance = torch.acos((prior @ v.T).clamp(-1, 1))
    assert (distance[weights > 0] < 3 * sigma).all() and ((distance < 2 * sigma) <= (weights > 0)).all()
    mean = weights @ v
    assert (torch.acos((mean / mean.norm(dim=-1, keepdim=True) * prior).sum(-1)) < math.radians(1.0)).all()
    # weights fall off with distance
    near, far = weights[0][distance[0].argsort()[:2]]
    assert near >= far > 0


def test_local_weights_use_symmetry_mates_and_fall_back_to_nearest():
    rot, tilt = healpix_directions(2)
    prior = euler_to_direction(torch.tensor(0.7, dtype=torch.float64), torch.tensor(1.2, dtype=torch.float64))
    mate = symmetry_operators("C4")[1] @ prior
    w1 = local_direction_weights(torch.tensor(0.7), torch.tensor(1.2), rot, tilt, 0.1, sym="C4")
    w2 = local_direction_weights(torch.atan2(mate[1], mate[0]), torch.acos(mate[2]), rot, tilt, 0.1, sym="C4")
    torch.testing.assert_close(w1, w2, atol=1e-6, rtol=0)
    tiny = local_direction_weights(torch.tensor(0.7), torch.tensor(1.2), rot, tilt, 1e-6)
    assert (tiny > 0).sum() == 1 and tiny.max() == 1


def test_local_directions_on_asymmetric_unit():
    directions, weights = local_directions(torch.tensor([0.2]), torch.tensor([2.5]), math.radians(10.0), 3, sym="D2")
    assert weights.shape == (1, len(directions.pixel)) and len(directions.pixel) == npix(3) // 4
    assert 0 < (weights > 0).sum() < len(directions.pixel)


@pytest.mark.parametrize("sym", ["C1", "C2", "C4", "C7", "D2", "D3", "D7", "Ci"])
@pytest.mark.parametrize("order", [2, 3])
def test_asymmetric_unit_count_and_coverage(sym, order):
    rot, tilt = healpix_directions(order)
    kept = asymmetric_unit_directions(order, sym)
    expected = npix(order) / symmetry_order(sym)
    assert len(kept.pixel) == pytest.approx(expected, rel=0.15)
    assert in_asymmetric_unit(kept.rot, kept.tilt, sym).all()
    torch.testing.assert_close(kept.rot, rot[kept.pixel])
    torch.testing.assert_close(kept.tilt, tilt[kept.pixel])
    # every direction lies within one angular step of a symmetry mate of a kept direction
    assert _nearest_mate_distance(rot, tilt, kept.rot, kept.tilt, sym).max() <= math.radians(angular_step_deg(order))


@pytest.mark.parametrize("sym", ["T", "O", "I1", "I2", "I3", "I4"])
def test_polyhedral_asymmetric_units(sym):
    order = 4
    rot, tilt = healpix_directions(order)
    kept = asymmetric_unit_directions(order, sym)
    assert len(kept.pixel) == pytest.approx(npix(order) / symmetry_order(sym), rel=0.1)
    # the region's corners are not on the grid: coverage is within a pixel diameter
    assert _nearest_mate_distance(rot, tilt, kept.rot, kept.tilt, sym).max() < 2 * max_pixrad(order)
    # no two kept directions are symmetry mates within half a pixel radius (RELION's seam check)
    v = euler_to_direction(kept.rot, kept.tilt)
    cos_mates = torch.stack([(v @ g.T) @ v.T for g in symmetry_operators(sym)]).amax(0)
    close = cos_mates > math.cos(0.5 * max_pixrad(order))
    assert not torch.tril(close, -1).any()


def test_exact_counts_for_symmetric_grids():
    counts = [len(asymmetric_unit_directions(3, s).pixel) for s in ("C1", "C2", "C4", "D2", "Ci")]
    assert counts == [768, 384, 192, 192, 384]


def test_parallel_greedy_matches_sequential_greedy():
    g = torch.Generator().manual_seed(11)
    adjacent = torch.rand(300, 300, generator=g) < 0.02
    adjacent = adjacent | adjacent.T
    kept = []
    for i in range(300):
        if not any(adjacent[i, k] for k in kept):
            kept.append(i)
    expected = torch.zeros(300, dtype=torch.bool)
    expected[kept] = True
    assert torch.equal(_lexicographic_independent_set(adjacent), expected)
