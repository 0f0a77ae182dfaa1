"""Lazy movie readers: MRC/MRCS (memory-mapped) and TIFF (flipped along y on reading, as RELION)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from vitreo.io.errors import InputError
from vitreo.io.movies import open_movie
from vitreo.io.mrc import write_mrc


def _counts(dtype: str, n: int = 5, shape: tuple[int, int] = (12, 10)) -> np.ndarray:
    return np.random.default_rng(3).poisson(3.0, (n,) + shape).astype(dtype)


@pytest.mark.parametrize("compression", [None, "lzw", "zlib"])
@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_tiff_movie(tmp_path: Path, compression: str | None, dtype: str) -> None:
    counts = _counts(dtype)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, counts, compression=compression, photometric="minisblack")
    with open_movie(path) as movie:
        assert movie.n_frames == len(movie) == 5 and movie.shape == (12, 10) and movie.dtype == np.dtype(dtype)
        frame = movie.frame(2)
        assert frame.dtype == np.float32
        np.testing.assert_array_equal(frame, counts[2][::-1])  # RELION flips TIFF along y
        np.testing.assert_array_equal(movie.frame(-1), counts[4][::-1])
        batch = movie.frames(1, 4)
        assert batch.shape == (3, 12, 10) and batch.dtype == np.float32
        np.testing.assert_array_equal(batch, counts[1:4, ::-1])
        np.testing.assert_array_equal(movie.sum(), counts.sum(axis=0)[::-1])
        np.testing.assert_array_equal(movie.sum(2), counts[2:].sum(axis=0)[::-1])
        assert len(list(movie)) == 5


@pytest.mark.parametrize("dtype", ["uint16", "int8", "float16", "float32"])
def test_mrc_movie(tmp_path: Path, dtype: str) -> None:
    counts = _counts(dtype)
    path = tmp_path / "movie.mrcs"
    write_mrc(path, counts, 0.885, is_stack=True)
    with open_movie(path) as movie:
        assert movie.n_frames == 5 and movie.shape == (12, 10) and movie.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(movie.frame(0), counts[0].astype(np.float32))  # MRC: as stored
        np.testing.assert_array_equal(movie.frames(3), counts[3:].astype(np.float32))
        np.testing.assert_array_equal(movie.sum(0, 2), counts[:2].sum(axis=0, dtype=np.float64))
        assert [f[0, 0] for f in movie] == counts[:, 0, 0].astype(np.float32).tolist()


def test_frame_out_of_range(tmp_path: Path) -> None:
    write_mrc(tmp_path / "m.mrcs", _counts("uint16", n=3), 1.0, is_stack=True)
    with open_movie(tmp_path / "m.mrcs") as movie:
        with pytest.raises(IndexError):
            movie.frame(3)
        with pytest.raises(IndexError):
            movie.frame(-4)
        assert movie.frames(2, 10).shape == (1, 12, 10)  # slice rules


def test_bad_movies(tmp_path: Path) -> None:
    eer = tmp_path / "movie.eer"
    eer.write_bytes(b"II*\x00")
    with pytest.raises(InputError, match="EER movies are not supported yet") as err:
        open_movie(eer)
    assert "movie.eer" in str(err.value)
    with pytest.raises(InputError, match="unknown movie format '.dm4'"):
        open_movie(tmp_path / "movie.dm4")
    with pytest.raises(InputError, match="file not found"):
        open_movie(tmp_path / "missing.tiff")
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"not a tiff at all" * 10)
    with pytest.raises(InputError, match="cannot read TIFF") as err:
        open_movie(garbage)
    assert "garbage.tif" in str(err.value)
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    with pytest.raises(InputError, match="single-channel"):
        open_movie(rgb)


def test_tiff_pages_of_different_sizes(tmp_path: Path) -> None:
    path = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(path) as writer:
        writer.write(np.zeros((8, 8), np.uint16))
        writer.write(np.zeros((4, 8), np.uint16))
    with open_movie(path) as movie, pytest.raises(InputError, match="frame 2"):
        movie.frames()
