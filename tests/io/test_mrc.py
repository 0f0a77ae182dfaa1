"""MRC/MRCS reading and writing against real fixtures and round trips."""

from __future__ import annotations

import io
import struct
import tracemalloc
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from vitreo.io.errors import InputError
from vitreo.io.mrc import open_stack, read_header_info, read_mrc, write_mrc

BETAGAL_PROJECT = "images/relion5_betagal_sppractice"


def test_betagal_map(shared_data: Path) -> None:
    data, voxel = read_mrc(shared_data / "maps/betaGal.mrc")
    assert data.shape == (100, 100, 100) and data.dtype == np.float32
    assert voxel == pytest.approx(3.54)
    info = read_header_info(shared_data / "maps/betaGal.mrc")
    assert info.is_volume and not info.is_stack and info.mode == 2  # ispg 0 but mz = nz: a volume


@pytest.mark.filterwarnings("error")
def test_relion31_stack_without_map_id(shared_data: Path) -> None:
    """No 'MAP ' ID and a zero machine stamp: read quietly, the oddities kept as notes."""
    path = shared_data / "images/cryodrgn/relion31.mrcs"
    info = read_header_info(path)
    assert info.is_stack and info.shape == (5, 256, 256)
    assert any("Map ID" in note for note in info.notes)
    assert any("machine stamp" in note for note in info.notes)
    data, voxel = read_mrc(path)
    assert data.shape == (5, 256, 256) and voxel == 1.0
    assert abs(float(data.mean())) < 0.1 and 0.9 < float(data.std()) < 1.1  # normalised particles: byte order right


@pytest.mark.parametrize(
    ("relative", "shape", "mode", "voxel"),
    [
        ("images/cryojax/trpv1_small_stack.mrcs", (10, 48, 48), 2, 4.88),
        (f"{BETAGAL_PROJECT}/Extract/job009/Movies/20170629_00021_frameImage.mrcs", (242, 64, 64), 12, 3.54),
        (f"{BETAGAL_PROJECT}/Class2D/job010/run_it025_classes.mrcs", (50, 64, 64), 2, 3.54),
    ],
)
def test_real_stacks(shared_data: Path, relative: str, shape: tuple[int, int, int], mode: int, voxel: float) -> None:
    info = read_header_info(shared_data / relative)
    assert info.is_stack and info.shape == shape and info.mode == mode
    data, voxel_read = read_mrc(shared_data / relative)
    assert data.shape == shape and data.dtype == np.float32 and np.isfinite(data).all()
    assert voxel_read == pytest.approx(voxel)
    with mrcfile.open(shared_data / relative, permissive=True) as oracle:
        np.testing.assert_array_equal(data, oracle.data.astype(np.float32))


def test_single_image_and_missing_pixel_size(shared_data: Path) -> None:
    image, voxel = read_mrc(shared_data / f"{BETAGAL_PROJECT}/MotionCorr/job002/Movies/20170629_00021_frameImage_PS.mrc")
    assert image.shape == (512, 512) and voxel == pytest.approx(1.3995525)
    particles, voxel = read_mrc(shared_data / "images/cryodrgn/empiar_10076_7.mrc")
    assert particles.shape == (7, 320, 320) and voxel == 0.0  # no cell: take the pixel size from the STAR file


def test_gzip_map_equals_plain(shared_data: Path) -> None:
    packed, voxel_packed = read_mrc(shared_data / "maps/emd_3197.map.gz")
    plain, voxel_plain = read_mrc(shared_data / "maps/EMD-3197.map")
    assert read_header_info(shared_data / "maps/emd_3197.map.gz").compression == "gzip"
    assert packed.shape == (20, 20, 20) and voxel_packed == voxel_plain == pytest.approx(11.4)
    np.testing.assert_array_equal(packed, plain)


def test_extended_header_map(shared_data: Path) -> None:
    path = shared_data / "maps/EMD-3001.map"
    info = read_header_info(path)
    assert info.nsymbt == 160 and info.data_offset == 1184 and info.ispg == 4
    assert info.shape == (25, 43, 73)
    assert info.voxel_size == pytest.approx((0.44825, 0.3925, 0.45875), rel=1e-5)
    data, _ = read_mrc(path)
    raw = np.fromfile(path, dtype="<f4", offset=1024 + 160).reshape(25, 43, 73)  # independent oracle
    np.testing.assert_array_equal(data, raw)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8", "int16", "uint16", "uint8"])
@pytest.mark.parametrize("kind", ["image", "stack", "volume"])
def test_write_read_round_trip(tmp_path: Path, dtype: str, kind: str) -> None:
    rng = np.random.default_rng(1)
    shape = {"image": (6, 8), "stack": (3, 6, 8), "volume": (4, 6, 8)}[kind]
    low, high = (-100, 100) if dtype in ("float32", "float16", "int8", "int16") else (0, 250)
    data = rng.uniform(low, high, shape).astype(dtype)
    path = tmp_path / ("out.mrcs" if kind == "stack" else "out.mrc")
    write_mrc(path, data, 1.5, is_stack=kind == "stack")
    if dtype != "float16":  # mrcfile's validator sums float16 in float16 and overflows
        report = io.StringIO()
        assert mrcfile.validate(str(path), print_file=report), report.getvalue()  # a valid MRC2014 file
    back, voxel = read_mrc(path, dtype=None)
    assert voxel == 1.5
    np.testing.assert_array_equal(back, data)
    expected_mode = {"float32": 2, "float16": 12, "int8": 0, "int16": 1, "uint16": 6, "uint8": 6}[dtype]
    with mrcfile.open(path) as oracle:
        header = oracle.header
        assert int(header.mode) == expected_mode
        assert int(header.ispg) == (1 if kind == "volume" else 0)
        assert float(header.dmax) == pytest.approx(float(data.max()))
        assert float(header.dmin) == pytest.approx(float(data.min()))
        assert float(header.dmean) == pytest.approx(float(data.astype(np.float64).mean()), rel=1e-3, abs=1e-3)
    info = read_header_info(path)
    assert info.is_stack == (kind == "stack") and info.is_volume == (kind == "volume")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left behind


def test_write_options(tmp_path: Path) -> None:
    write_mrc(tmp_path / "aniso.mrc", np.zeros((2, 3, 4)), (1.0, 2.0, 3.0))
    assert read_header_info(tmp_path / "aniso.mrc").voxel_size == (1.0, 2.0, 3.0)
    assert read_header_info(tmp_path / "aniso.mrc").dtype == np.float32  # float64 is stored as float32
    write_mrc(tmp_path / "rounded.mrc", np.array([[1.4, -2.6]]), 1.0, dtype=np.int16)
    assert read_mrc(tmp_path / "rounded.mrc", dtype=None)[0].tolist() == [[1, -3]]
    with pytest.raises(ValueError, match="range"):
        write_mrc(tmp_path / "bad.mrc", np.array([[300.0]]), 1.0, dtype=np.int8)
    write_mrc(tmp_path / "one.mrcs", np.ones((5, 5)), 2.0, is_stack=True)
    assert read_mrc(tmp_path / "one.mrcs")[0].shape == (1, 5, 5)
    write_mrc(tmp_path / "packed.mrc.gz", np.arange(24.0).reshape(2, 3, 4), 1.0)
    assert read_header_info(tmp_path / "packed.mrc.gz").compression == "gzip"
    np.testing.assert_array_equal(read_mrc(tmp_path / "packed.mrc.gz")[0], np.arange(24.0).reshape(2, 3, 4))


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.mrcs"
    write_mrc(path, np.zeros((10, 16, 16), np.float32), 1.0, is_stack=True)
    with open(path, "r+b") as handle:
        handle.truncate(1024 + 5000)
    for reader in (read_header_info, read_mrc, open_stack):
        with pytest.raises(InputError) as err:
            reader(path)
        assert str(path) in str(err.value)
        assert "truncated: header promises 10240 bytes of data, found 5000" in str(err.value)


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.mrc.gz"
    write_mrc(path, np.random.default_rng(0).normal(size=(8, 32, 32)), 1.0)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(InputError, match="truncated") as err:
        read_mrc(path)
    assert str(path) in str(err.value)


@pytest.mark.filterwarnings("error")
def test_not_an_mrc(tmp_path: Path) -> None:
    text = tmp_path / "notes.mrc"
    text.write_text("this is not a map\n" * 100)
    short = tmp_path / "short.mrc"
    short.write_bytes(b"\x00" * 100)
    for path in (text, short):
        with pytest.raises(InputError, match="not an MRC file") as err:
            read_mrc(path)
        assert str(path) in str(err.value)
    with pytest.raises(InputError, match="file not found"):
        read_mrc(tmp_path / "missing.mrc")


def test_open_stack_reads_only_what_is_asked(tmp_path: Path) -> None:
    path = tmp_path / "big.mrcs"
    data = np.arange(2000 * 32 * 32, dtype=np.float32).reshape(2000, 32, 32)
    write_mrc(path, data, 1.0, is_stack=True)
    del data
    tracemalloc.start()
    with open_stack(path) as stack:
        assert stack.is_memory_mapped and len(stack) == 2000 and stack.shape == (2000, 32, 32)
        part = stack[1000:1010]
        picked = stack[[1999, 3, 3]]
        one = stack[7]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 500_000  # the file holds 8 MB
    assert part.shape == (10, 32, 32) and part[0, 0, 0] == 1000 * 1024
    assert picked[:, 0, 0].tolist() == [1999 * 1024, 3 * 1024, 3 * 1024]
    assert one.shape == (32, 32) and one[0, 1] == 7 * 1024 + 1


def test_open_stack_single_image(tmp_path: Path) -> None:
    write_mrc(tmp_path / "image.mrc", np.full((4, 6), 2.0), 1.0)
    with open_stack(tmp_path / "image.mrc") as stack:
        assert len(stack) == 1 and stack[:].shape == (1, 4, 6)


def test_mode_101_packed_4bit(tmp_path: Path) -> None:
    """SerialEM 4-bit counts: two pixels per byte, low nibble first; odd rows end on a byte."""
    nx, ny, nz = 5, 2, 3
    values = np.random.default_rng(2).integers(0, 16, (nz, ny, nx)).astype(np.uint8)
    padded = np.zeros((nz, ny, 6), np.uint8)
    padded[..., :nx] = values
    packed = padded[..., 0::2] | (padded[..., 1::2] << 4)
    path = tmp_path / "counts.mrc"
    write_mrc(path, np.zeros((nz, ny, 3), np.int8), 1.0, is_stack=True)  # a valid header to patch
    raw = bytearray(path.read_bytes()[:1024])
    raw[0:4] = struct.pack("<i", nx)
    raw[12:16] = struct.pack("<i", 101)
    path.write_bytes(bytes(raw) + packed.tobytes())
    info = read_header_info(path)
    assert info.mode == 101 and info.data_nbytes == nz * ny * 3
    data, _ = read_mrc(path, dtype=None)
    assert data.dtype == np.uint8
    np.testing.assert_array_equal(data, values)



def test_big_endian_file(tmp_path: Path) -> None:
    data = np.arange(24, dtype=">f4").reshape(2, 3, 4)
    with mrcfile.new(tmp_path / "big_endian.mrc") as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 2.5
    info = read_header_info(tmp_path / "big_endian.mrc")
    assert info.dtype == np.dtype(">f4")
    back, voxel = read_mrc(tmp_path / "big_endian.mrc")
    assert voxel == 2.5 and back.dtype == np.float32
    np.testing.assert_array_equal(back, data)
