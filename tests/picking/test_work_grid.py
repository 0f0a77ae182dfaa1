"""The work grid of auto-picking: RELION's shrink rules and FFT-friendly sizes."""

from __future__ import annotations

import pytest

from vitreo.picking.work_grid import fast_even_size, work_grid


def test_fast_sizes_are_the_smallest_even_products_of_twos_and_threes() -> None:
    assert [fast_even_size(n, 4096) for n in (2, 3, 100, 230, 724, 1000)] == [2, 4, 108, 256, 768, 1024]
    assert fast_even_size(700, 512) == 512


def test_shrink_zero_goes_to_the_lowpass_resolution_and_notes_the_fft_friendly_change() -> None:
    grid = work_grid(2048, 3.54, 20.0, 0.0)
    assert grid.work_size == 768 and "724" in grid.note and "768" in grid.note
    assert grid.work_pixel_size == pytest.approx(2048 * 3.54 / 768)
    assert work_grid(512, 4.5, -1.0, 0.0).work_size == 512  # no low-pass: full size


def test_fractions_and_sizes() -> None:
    assert work_grid(512, 4.5, 20.0, 0.5).work_size == 256 and work_grid(512, 4.5, 20.0, 0.5).note == ""
    assert work_grid(512, 4.5, 20.0, 300).work_size == 324
    with pytest.raises(ValueError, match="smaller than the micrograph"):
        work_grid(512, 4.5, 20.0, 600)
    with pytest.raises(ValueError, match="shrink"):
        work_grid(512, 4.5, 20.0, -1)
