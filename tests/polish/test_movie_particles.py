"""Movie-frame particle extraction: frame groups and boxes cut from every group."""

from __future__ import annotations

import numpy as np
import pytest

from vitreo.io.mrc import write_mrc
from vitreo.picking.extraction import ExtractSettings
from vitreo.polish.movie_particles import extract_movie_particles, frame_groups, read_movie_particles


def test_frame_groups_average_consecutive_frames() -> None:
    groups = frame_groups(12, 2, 11, 3)
    assert groups.frames == ((1, 2, 3), (4, 5, 6), (7, 8, 9))
    assert groups.numbers.tolist() == [2, 5, 8] and groups.size == 3
    assert len(frame_groups(12, 1, 0, 1)) == 12
    with pytest.raises(ValueError):
        frame_groups(4, 3, 0, 4)


def test_boxes_follow_a_moving_spot_in_every_group(tmp_path) -> None:
    movie = np.zeros((6, 96, 96), np.float32)
    for f in range(6):
        movie[f, 40, 30 + f] = 10.0  # a spot drifting one pixel per frame along x
    write_mrc(tmp_path / "m.mrcs", movie, 1.0, is_stack=True)
    centres = np.array([[32.0, 40.0], [90.0, 40.0]])  # the second box crosses the edge
    settings = ExtractSettings(box=16, normalise=False, invert=False)
    kept = extract_movie_particles(tmp_path / "m.mrcs", centres, frame_groups(6, 1, 0, 2), settings,
                                   tmp_path / "out.mrcs", 1.0)
    assert kept.tolist() == [True, False]
    boxes = read_movie_particles(tmp_path / "out.mrcs", np.array([0]), 3)[0]
    for g in range(3):
        rows, cols = np.nonzero(boxes[g].numpy())
        assert set(rows) == {8} and sorted(cols) == [8 - 2 + 2 * g, 8 - 1 + 2 * g]
        assert np.isclose(boxes[g].sum().item(), 10.0)  # the mean of two frames with one spot each
