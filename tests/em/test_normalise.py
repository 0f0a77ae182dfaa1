"""RELION particle normalisation: background statistics, ramp and dust removal."""

from __future__ import annotations

import pytest
import torch

from vitreo.em.masks import soft_spherical_mask
from vitreo.em.normalise import (
    background_mask,
    background_stats,
    default_bg_radius,
    invert_contrast,
    normalise,
    remove_dust,
    subtract_background_ramp,
)


def synthetic_particles(n: int = 6, box: int = 64, seed: int = 0) -> torch.Tensor:
    """Bright discs on noise with an offset (5 + image index), std 2 + index and a tilted ramp."""
    g = torch.Generator().manual_seed(seed)
    k = torch.arange(n, dtype=torch.float64)[:, None, None]
    coords = torch.arange(box, dtype=torch.float64) - box // 2
    ramp = 0.3 * coords[None, :, None] - 0.2 * (k + 1) * coords[None, None, :]
    disc = 20.0 * soft_spherical_mask((box, box), 12.0, 3.0, dtype=torch.float64)
    noise = torch.randn(n, box, box, generator=g, dtype=torch.float64)
    return 5.0 + k + ramp + disc + (2.0 + k) * noise


def test_default_background_radius():
    assert default_bg_radius(64) == 24 and default_bg_radius(100) == 37


def test_background_mask():
    mask = background_mask(64, 24)
    assert not bool(mask[32, 32 + 24]) and bool(mask[32, 32 + 25]) and bool(mask[0, 0])
    with pytest.raises(ValueError):
        background_mask(64, 40)


def test_background_is_zero_mean_unit_std_after_ramp_removal():
    images = synthetic_particles()
    out = normalise(images, 24)
    mean, std = background_stats(out, background_mask(64, 24))
    torch.testing.assert_close(mean.flatten(), torch.zeros(6, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(std.flatten(), torch.ones(6, dtype=torch.float64), atol=1e-10, rtol=0)
    # the ramp is gone: the background std is that of the noise, so the particle stands out at 20/σ
    centre = out[:, 32, 32]
    expected = 20.0 / (2.0 + torch.arange(6, dtype=torch.float64))
    assert bool(((centre - expected).abs() < 4.0).all())
    # without ramp removal the tilted background inflates the std: the particle is much weaker
    flat = normalise(images, 24, ramp=False)
    assert bool((flat[:, 32, 32] < 0.6 * centre).all())


def test_ramp_fit_recovers_an_exact_plane():
    coords = torch.arange(32, dtype=torch.float64) - 16
    plane = 2.0 + 0.5 * coords[:, None] - 1.5 * coords[None, :]
    images = torch.stack([plane, -plane])
    out = subtract_background_ramp(images, background_mask(32, 10))
    assert float(out.abs().max()) < 1e-10


def test_dust_replaced_by_background_noise():
    g = torch.Generator().manual_seed(3)
    images = torch.randn(2, 64, 64, generator=g, dtype=torch.float64)
    images[0, 2, 3] = 50.0
    images[1, 60, 5] = -50.0
    images[1, 32, 32] = 40.0  # inside the particle circle: also checked, as RELION does
    background = background_mask(64, 24)
    cleaned = remove_dust(
        images, background, white_sigma=5.0, black_sigma=5.0, generator=torch.Generator().manual_seed(1)
    )
    assert float(cleaned.abs().max()) < 5.0
    changed = (cleaned != images).sum()
    assert int(changed) == 3
    only_white = remove_dust(images, background, white_sigma=5.0)
    assert float(only_white[1, 60, 5]) == -50.0 and float(only_white[0, 2, 3]) < 5.0


def test_flat_images_are_left_alone_and_contrast_inverts():
    flat = torch.full((1, 32, 32), 7.0)
    torch.testing.assert_close(normalise(flat, 10, ramp=False), flat)
    x = torch.randn(3, 8, 8)
    torch.testing.assert_close(invert_contrast(x), -x)
