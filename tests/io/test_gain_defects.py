"""Gain references (RELION rotation/flip) and detector defects (files, hot pixels, filling)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from vitreo.io.defects import (
    fill_defects,
    find_hot_pixels,
    load_defect_mask,
    read_defect_text,
)
from vitreo.io.errors import InputError
from vitreo.io.gain import apply_gain, gain_defect_mask, load_gain, transform_gain
from vitreo.io.mrc import write_mrc

# Row 0 is the top row, as relion_display shows it:
#   1 2 3
#   4 5 6
GAIN = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)


@pytest.mark.parametrize(
    ("rotation", "flip", "expected"),
    [
        (0, 0, [[1, 2, 3], [4, 5, 6]]),
        (1, 0, [[4, 1], [5, 2], [6, 3]]),  # 90° clockwise: the left column, read upwards, becomes the top row
        (2, 0, [[6, 5, 4], [3, 2, 1]]),
        (3, 0, [[3, 6], [2, 5], [1, 4]]),  # 270° clockwise = 90° anticlockwise
        (0, 1, [[4, 5, 6], [1, 2, 3]]),  # upside down
        (0, 2, [[3, 2, 1], [6, 5, 4]]),  # left to right
        (1, 2, [[1, 4], [2, 5], [3, 6]]),  # rotate, then flip (flip-then-rotate would give [[6, 3], ...])
        (1, 1, [[6, 3], [5, 2], [4, 1]]),
    ],
)
def test_transform_gain_by_hand(rotation: int, flip: int, expected: list[list[int]]) -> None:
    np.testing.assert_array_equal(transform_gain(GAIN, rotation, flip), np.array(expected, np.float32))


def test_rotation_matches_relion_loop() -> None:
    """RELION ImageOp::rotate90: dest(x, ny-1-y) = src(y, x) in (row, column) terms."""
    src = np.random.default_rng(0).normal(size=(5, 7))
    dest = np.empty((7, 5))
    for y in range(5):
        for x in range(7):
            dest[x, 5 - 1 - y] = src[y, x]
    np.testing.assert_array_equal(transform_gain(src, 1), dest)
    np.testing.assert_array_equal(transform_gain(transform_gain(src, 1), 3), src)


def test_load_gain_mrc_and_tiff(tmp_path: Path) -> None:
    gain = np.random.default_rng(1).uniform(0.9, 1.1, (6, 4)).astype(np.float32)
    write_mrc(tmp_path / "gain.mrc", gain, 1.0)
    tifffile.imwrite(tmp_path / "gain.tiff", gain)
    np.testing.assert_array_equal(load_gain(tmp_path / "gain.mrc"), gain)
    np.testing.assert_array_equal(load_gain(tmp_path / "gain.tiff"), gain[::-1])  # TIFF flipped along y, as movies
    rotated = load_gain(tmp_path / "gain.mrc", rotation=1, flip=2, shape=(4, 6))
    np.testing.assert_array_equal(rotated, np.fliplr(np.rot90(gain, -1)))
    with pytest.raises(InputError, match="check the gain rotation") as err:
        load_gain(tmp_path / "gain.mrc", shape=(4, 6))
    assert "gain.mrc" in str(err.value)
    with pytest.raises(InputError, match="rotation must be 0, 1, 2 or 3"):
        load_gain(tmp_path / "gain.mrc", rotation=4)


def test_dead_gain_pixels(tmp_path: Path) -> None:
    gain = np.ones((4, 4), np.float32)
    gain[1, 2] = 0.0
    gain[3, 0] = np.nan
    tifffile.imwrite(tmp_path / "gain.tiff", gain)
    loaded = load_gain(tmp_path / "gain.tiff")[::-1]  # undo the TIFF flip
    assert np.isfinite(loaded).all() and loaded[3, 0] == 0
    assert np.argwhere(gain_defect_mask(loaded)).tolist() == [[1, 2], [3, 0]]
    frames = np.full((2, 4, 4), 3, np.uint16)
    corrected = apply_gain(frames, loaded)
    assert corrected.dtype == np.float32 and corrected[0, 0, 0] == 3 and corrected[1, 1, 2] == 0
    with pytest.raises(ValueError, match="does not match"):
        apply_gain(frames, loaded[:3])


def test_defect_text(tmp_path: Path) -> None:
    path = tmp_path / "defects.txt"
    path.write_text("# x y w h\n2 1 3 2\n\n0 5   # a single pixel\n8 0 5 1\n-1 6 2 9\n")
    assert read_defect_text(path).tolist() == [[2, 1, 3, 2], [0, 5, 1, 1], [8, 0, 5, 1], [-1, 6, 2, 9]]
    mask = load_defect_mask(path, (8, 10))
    expected = np.zeros((8, 10), bool)
    expected[1:3, 2:5] = True  # rectangle: columns x..x+w-1, rows y..y+h-1
    expected[5, 0] = True
    expected[0, 8:10] = True  # clipped at the right edge
    expected[6:8, 0] = True  # clipped at the left and bottom edges
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize(
    ("text", "problem", "line"),
    [
        ("1 2 3 4\n1 2 3\n", "found 3", 2),
        ("1 2 x 4\n", "whole numbers", 1),
        ("1 2 0 4\n", "positive", 1),
        ("CameraSize 4096 4096\nBadColumns 12\n", "SerialEM", 1),
    ],
)
def test_bad_defect_text(tmp_path: Path, text: str, problem: str, line: int) -> None:
    path = tmp_path / "defects.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as err:
        load_defect_mask(path, (8, 8))
    assert err.value.line == line and "defects.txt" in str(err.value)


def test_defect_map(tmp_path: Path) -> None:
    defect_map = np.zeros((6, 5), np.uint8)
    defect_map[2, 3] = 1
    defect_map[0, 0] = 255
    write_mrc(tmp_path / "defects.mrc", defect_map, 1.0)
    tifffile.imwrite(tmp_path / "defects.tif", defect_map)
    np.testing.assert_array_equal(load_defect_mask(tmp_path / "defects.mrc", (6, 5)), defect_map != 0)
    np.testing.assert_array_equal(load_defect_mask(tmp_path / "defects.tif", (6, 5)), defect_map[::-1] != 0)
    with pytest.raises(InputError, match="defect map is 5x6, movie frames are 6x6"):
        load_defect_mask(tmp_path / "defects.mrc", (6, 6))


def test_find_hot_pixels() -> None:
    frame_sum = np.random.default_rng(4).poisson(40.0, (256, 256)).astype(np.float32)
    hot = [(10, 20), (100, 3), (255, 255)]
    for y, x in hot:
        frame_sum[y, x] = 400.0
    assert [tuple(p) for p in np.argwhere(find_hot_pixels(frame_sum))] == hot


def test_fill_defects_copies_good_neighbours() -> None:
    rng = np.random.default_rng(5)
    frames = np.arange(3 * 20 * 30, dtype=np.float32).reshape(3, 20, 30)  # each value names its pixel
    mask = np.zeros((20, 30), bool)
    mask[5, 7] = mask[0, 0] = mask[10, 10:12] = True
    filled = fill_defects(frames, mask, rng)
    assert filled.dtype == np.float32 and not np.shares_memory(filled, frames)
    np.testing.assert_array_equal(filled[:, ~mask], frames[:, ~mask])
    for k in range(3):
        for y, x in np.argwhere(mask):
            source = np.argwhere(frames[k] == filled[k, y, x])
            assert len(source) == 1
            sy, sx = source[0]
            assert max(abs(sy - y), abs(sx - x)) <= 2 and not mask[sy, sx]
    picks = [fill_defects(frames[0], mask, np.random.default_rng(seed))[5, 7] for seed in range(20)]
    assert len(set(picks)) > 5  # a random neighbour, not a fixed one


def test_fill_defects_large_region_draws_from_good_statistics() -> None:
    rng = np.random.default_rng(6)
    frame = rng.normal(10.0, 2.0, (200, 200)).astype(np.float32)
    mask = np.zeros(frame.shape, bool)
    mask[50:150, 50:150] = True  # a dead block: most pixels have no good neighbour
    frame[mask] = 1000.0
    filled = fill_defects(frame, mask, rng)
    interior = filled[60:140, 60:140]
    assert abs(float(interior.mean()) - 10.0) < 0.1 and abs(float(interior.std()) - 2.0) < 0.1
    assert filled.max() < 100
