"""Whole-map operations: mirror, window, rescale, centre of mass, rotation, statistics."""

from __future__ import annotations

import math

import numpy as np
import torch

from vitreo.em.geometry import euler_to_matrix, random_rotations
from vitreo.em.image_ops import (
    centre_by_mass,
    centre_of_mass,
    centred_coordinates,
    check_box,
    flip_x,
    image_statistics,
    rescale_box,
    rescaled_box,
    rotate_volume,
    window,
)


def gaussian(size: int, centre: tuple[float, float, float], sigma: float) -> torch.Tensor:
    """A 3D Gaussian at ``centre`` (x, y, z) pixels from the box centre."""
    d2 = (centred_coordinates(size, dtype=torch.float64) - torch.tensor(centre, dtype=torch.float64)).square().sum(-1)
    return torch.exp(-d2 / (2 * sigma**2))


def test_flip_x_mirrors_about_the_centre() -> None:
    volume = gaussian(16, (3.0, -2.0, 1.0), 1.5)
    flipped = flip_x(volume)
    mirrored = centre_of_mass(volume, 3) * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.allclose(centre_of_mass(flipped, 3), mirrored, atol=1e-9)
    assert torch.equal(flip_x(flipped), volume)
    image = torch.arange(8.0).reshape(1, 8)
    assert flip_x(image).tolist() == [[0.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]]


def test_window_keeps_the_centre() -> None:
    volume = gaussian(20, (1.0, 2.0, -3.0), 1.0)
    for size in (14, 32):
        resized = window(volume, size, 3)
        assert resized.shape == (size,) * 3
        assert torch.allclose(centre_of_mass(resized, 3), centre_of_mass(volume, 3), atol=1e-3)
    assert torch.equal(window(window(volume, 32, 3), 20, 3), volume)


def test_rescale_keeps_the_physical_shape() -> None:
    pixel, new_pixel = 4.0, 2.5
    size = rescaled_box(32, pixel, new_pixel)
    assert size == 50  # round(32 · 4 / 2.5) = 51, made even as RELION
    # a Gaussian of 8 Å at (8, -4, 12) Å: the same in Å after resampling
    volume = gaussian(32, (2.0, -1.0, 3.0), 8.0 / pixel)
    resampled = rescale_box(volume, size, 3)
    scale = pixel * 32 / size
    com = centre_of_mass(resampled, 3) * scale
    assert torch.allclose(com, torch.tensor([8.0, -4.0, 12.0], dtype=torch.float64), atol=0.05)
    width = (resampled.clamp_min(0) * (centred_coordinates(size, dtype=torch.float64) * scale - com).square()[..., 0]).sum()
    assert math.isclose(math.sqrt(float(width / resampled.clamp_min(0).sum())), 8.0, rel_tol=0.01)
    assert math.isclose(float(resampled.max()), 1.0, rel_tol=0.02)


def test_centre_by_mass() -> None:
    volume = gaussian(24, (3.5, -2.0, 1.25), 2.0)
    centred, moved = centre_by_mass(volume, 3)
    assert torch.allclose(moved, torch.tensor([-3.5, 2.0, -1.25], dtype=torch.float64), atol=1e-3)
    assert torch.allclose(centre_of_mass(centred, 3), torch.zeros(3, dtype=torch.float64), atol=1e-3)


def test_rotate_volume_moves_points_by_the_matrix() -> None:
    point = torch.tensor([5.0, -3.0, 2.0], dtype=torch.float64)
    volume = gaussian(32, tuple(point.tolist()), 2.0)
    for rotation in [euler_to_matrix(*torch.tensor([0.3, 1.1, -0.7], dtype=torch.float64)), *random_rotations(2)]:
        rotated = rotate_volume(volume, rotation)
        expected = gaussian(32, tuple((rotation @ point).tolist()), 2.0)  # out(r) = in(Aᵀ r): content moves to A·p
        assert float((rotated - expected).abs().max()) < 0.03
        wrong = gaussian(32, tuple((rotation.T @ point).tolist()), 2.0)
        assert float((rotated - wrong).abs().max()) > 0.3


def test_statistics_match_numpy() -> None:
    rng = np.random.default_rng(3)
    stack = rng.normal(2.0, 3.0, size=(4, 10, 12))
    stats = image_statistics(torch.from_numpy(stack), 2)
    assert np.allclose(stats["mean"].numpy(), stack.mean(axis=(1, 2)))
    assert np.allclose(stats["std"].numpy(), stack.std(axis=(1, 2)))
    assert np.allclose(stats["min"].numpy(), stack.min(axis=(1, 2)))
    assert np.allclose(stats["max"].numpy(), stack.max(axis=(1, 2)))


def test_check_box() -> None:
    assert check_box((8, 8, 8), 3) is None
    assert "even" in check_box((9, 9, 9), 3)
    assert "cubic" in check_box((8, 8, 10), 3)
    assert "square" in check_box((5, 8, 10), 2)
