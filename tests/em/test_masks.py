"""Soft masks (RELION conventions), thresholded masks with extension and soft edges, masking."""

from __future__ import annotations

import math

import pytest
import torch

from vitreo.em.masks import (
    apply_mask,
    centred_radius,
    raised_cosine_edge,
    soft_spherical_mask,
    threshold_mask,
)


def test_centred_radius_uses_relion_origin():
    r = centred_radius((8, 8))
    assert float(r[4, 4]) == 0.0
    assert float(r[4, 7]) == 3.0 and float(r[0, 4]) == 4.0
    assert centred_radius((6, 6, 6)).shape == (6, 6, 6)


def test_soft_sphere_values_at_known_radii():
    mask = soft_spherical_mask((32, 32, 32), radius=8.0, edge_width=4.0, dtype=torch.float64)
    c = 16
    assert float(mask[c, c, c + 8]) == 1.0  # on the radius
    assert float(mask[c, c, c + 10]) == pytest.approx(0.5)  # middle of the edge
    assert float(mask[c, c, c + 9]) == pytest.approx(0.5 + 0.5 * math.cos(math.pi / 4))
    assert float(mask[c, c, c + 12]) == pytest.approx(0.0, abs=1e-15)
    assert float(mask[0, 0, 0]) == 0.0
    assert float(mask[c, c + 6, c]) == 1.0  # isotropic: same along y


def test_soft_circle_is_smooth_and_monotonic():
    mask = soft_spherical_mask((64, 64), radius=20.0, edge_width=6.0, dtype=torch.float64)
    profile = mask[32, 32:]
    assert bool((profile.diff() <= 0).all())
    assert float(profile.diff().abs().max()) < 0.3  # no jump larger than the cosine slope allows (π/12 per px)


def test_raised_cosine_edge_hard_step():
    d = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    assert raised_cosine_edge(d, 0.0).tolist() == [1.0, 1.0, 0.0, 0.0]


def cube_map(n: int = 32, half: int = 4) -> torch.Tensor:
    density = torch.zeros(n, n, n, dtype=torch.float64)
    c = n // 2
    density[c - half : c + half, c - half : c + half, c - half : c + half] = 1.0
    return density


def test_threshold_mask_binary_and_grown():
    density = cube_map()
    binary = threshold_mask(density, 0.5)
    assert float(binary.sum()) == 8**3
    # a single voxel grown by 3 px: all voxels with distance < 3 (RELION uses r² < n²)
    point = torch.zeros(16, 16, 16)
    point[8, 8, 8] = 1.0
    grown_point = threshold_mask(point, 0.5, extend_px=3.0)
    r = centred_radius((16, 16, 16))
    torch.testing.assert_close(grown_point, (r < 3.0).float())
    # a grown cube is a rounded box: voxels closer than n to the cube (distance per axis beyond its faces)
    index = torch.arange(32, dtype=torch.float64)
    beyond = torch.clamp(torch.maximum(12 - index, index - 19), min=0)  # the cube spans voxels 12..19
    distance = torch.sqrt(beyond[:, None, None] ** 2 + beyond[None, :, None] ** 2 + beyond[None, None, :] ** 2)
    for extend in (2.0, 2.5, 4.0):
        grown = threshold_mask(density, 0.5, extend_px=extend)
        torch.testing.assert_close(grown, (distance < extend).double())
    assert float(threshold_mask(density, 0.5, extend_px=2.0).sum()) == 10**3  # faces move 1 px: r² < n² as RELION
    shrunk = threshold_mask(density, 0.5, extend_px=-2.0)
    assert float(shrunk.sum()) == 6**3


def test_threshold_mask_soft_edge():
    density = cube_map()
    mask = threshold_mask(density, 0.5, extend_px=2.0, soft_edge_px=4.0)
    c = 16
    # inside the grown cube (voxels c−5 … c+4) the mask is 1; then cos falloff by distance to it
    assert float(mask[c, c, c + 4]) == 1.0
    assert float(mask[c, c, c + 5]) == pytest.approx(0.5 + 0.5 * math.cos(math.pi / 4))
    assert float(mask[c, c, c + 6]) == pytest.approx(0.5)
    assert float(mask[c, c, c + 8]) == 0.0
    assert float(mask[c + 5, c + 5, c]) == pytest.approx(0.5 + 0.5 * math.cos(math.pi * math.sqrt(2) / 4))
    assert mask.dtype == torch.float64
    assert bool(((mask >= 0) & (mask <= 1)).all())


def test_apply_mask_backgrounds():
    torch.manual_seed(1)
    x = 3.0 + torch.randn(4, 32, 32, dtype=torch.float64)
    mask = soft_spherical_mask((32, 32), 8.0, 3.0, dtype=torch.float64)
    torch.testing.assert_close(apply_mask(x, mask), x * mask)
    mean_filled = apply_mask(x, mask, "mean")
    outside = mask == 0
    assert float(mean_filled[:, outside].std(-1).max()) < 1e-12
    assert float(mean_filled[0, 0, 0]) == pytest.approx(3.0, abs=0.1)
    noisy = apply_mask(x, mask, "noise", generator=torch.Generator().manual_seed(0))
    assert float(noisy[:, outside].mean()) == pytest.approx(3.0, abs=0.1)
    assert float(noisy[:, outside].std()) == pytest.approx(1.0, abs=0.1)
    torch.testing.assert_close(noisy[:, mask == 1], x[:, mask == 1])
    with pytest.raises(ValueError):
        apply_mask(x, mask, "blue")
