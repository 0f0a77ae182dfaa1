"""Box extraction: where boxes are cut, which are skipped, and RELION's normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vitreo.em.normalise import background_mask
from vitreo.picking.extraction import ExtractSettings, bg_radius_for, cut_boxes, prepare_boxes, select_boxes


def test_box_centre_is_the_rounded_coordinate() -> None:
    image = torch.zeros(100, 120)
    image[40, 70] = 1.0  # row y=40, column x=70
    boxes = cut_boxes(image, np.array([[70.3, 39.8], [69.6, 40.4]]), 16)
    assert all(box[8, 8] == 1.0 and box.sum() == 1.0 for box in boxes)


def test_boxes_outside_or_across_the_edge_are_counted_apart() -> None:
    centres = np.array([[50, 50], [5, 50], [50, 95], [-3, 20], [130, 10], [50, 8]])
    selection = select_boxes(centres, 20, (100, 120))
    assert selection.kept.tolist() == [True, False, False, False, False, False]
    assert selection.outside == 2 and selection.near_edge == 3
    assert select_boxes(np.array([[10, 10]]), 20, (100, 120)).kept.tolist() == [True]  # box [0, 20) fits


def test_normalised_background_has_mean_zero_and_unit_deviation_and_contrast_inverted() -> None:
    generator = torch.Generator().manual_seed(0)
    boxes = 5.0 + 3.0 * torch.randn(6, 64, 64, generator=generator)
    boxes[:, 24:40, 24:40] -= 10.0  # a dark particle
    out = prepare_boxes(boxes, ExtractSettings(box=64, bg_radius=24))
    background = background_mask(64, 24)
    assert torch.allclose(out[:, background].mean(-1), torch.zeros(6), atol=1e-4)
    assert torch.allclose(out[:, background].std(-1, correction=0), torch.ones(6), atol=1e-4)
    assert (out[:, 32, 32] > 2).all()  # inverted: the particle is now white


def test_rescaling_keeps_the_centre_and_relions_background_radius_rule() -> None:
    image = torch.zeros(1, 64, 64)
    image[0, 32, 32] = 1.0
    small = prepare_boxes(image, ExtractSettings(box=64, rescaled=32, normalise=False, invert=False))
    assert small.shape == (1, 32, 32) and np.unravel_index(int(small[0].argmax()), (32, 32)) == (16, 16)
    assert bg_radius_for(-1, 256, 64) == 24  # relion5_betagal_sppractice Extract/job009: --bg_radius 24
    assert bg_radius_for(-1, 100, 0) == 37 and bg_radius_for(80, 100, 50) == 20


def test_extract_settings_final_box() -> None:
    assert ExtractSettings(box=100).final_box == 100 and ExtractSettings(box=100, rescaled=64).final_box == 64
    with pytest.raises(TypeError):
        ExtractSettings()  # the box is required
