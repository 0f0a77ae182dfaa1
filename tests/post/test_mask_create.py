"""Mask creation: binarise, extend by n pixels, raised-cosine edge of m pixels, helical z limit."""

from __future__ import annotations

import math

import pytest
import torch

from vitreo.em.masks import centred_radius
from vitreo.post.mask_create import central_z_profile, create_mask

BOX = 48


@pytest.fixture(scope="module")
def ball() -> torch.Tensor:
    """A solid ball of density 1 and radius 10 pixels."""
    return (centred_radius((BOX,) * 3) <= 10).float()


def test_mask_is_the_ball_extended_and_softened(ball) -> None:
    mask = create_mask(ball, 2.0, lowpass_resolution=0, threshold=0.5, extend_px=3, soft_edge_px=4)
    radius = centred_radius((BOX,) * 3)
    assert float(mask[radius <= 12].min()) == 1.0  # the ball grown by voxels closer than 3 pixels
    assert float(mask[radius >= 17].max()) == 0.0  # nothing beyond the 4-pixel edge
    along_x = mask[BOX // 2, BOX // 2, BOX // 2 + 12: BOX // 2 + 18]  # the grown boundary on the axis is at 12
    expected = 0.5 + 0.5 * torch.cos(math.pi * torch.arange(6).clamp_max(4) / 4)
    torch.testing.assert_close(along_x, expected.float(), atol=1e-6, rtol=0)


def test_lowpass_uses_the_pixel_size(ball) -> None:
    coarse = create_mask(ball, 4.0, lowpass_resolution=40, threshold=0.5, extend_px=0, soft_edge_px=0)
    fine = create_mask(ball, 1.0, lowpass_resolution=40, threshold=0.5, extend_px=0, soft_edge_px=0)
    # a 40 Å filter is 10 pixels at 4 Å/px but 40 pixels at 1 Å/px: the finer pixel blurs the ball much more
    assert float(coarse.sum()) > 0.8 * float((ball > 0).sum())
    assert float(fine.sum()) < 0.5 * float(coarse.sum())


def test_helical_mask_keeps_the_central_z_fraction() -> None:
    profile = central_z_profile(BOX, 0.3, 3.0)
    z = (torch.arange(BOX) - BOX // 2).abs().float()
    assert float(profile[z <= 0.15 * BOX].min()) == 1.0
    assert float(profile[z >= 0.15 * BOX + 3].max()) == 0.0
    rod = torch.ones((BOX,) * 3)
    mask = create_mask(rod, 2.0, 0, 0.5, 0, 3.0, helix_z_fraction=0.3)
    torch.testing.assert_close(mask[:, 5, 7], profile)
