"""MRC/MRCS files (MRC2014, as RELION reads and writes them).

Arrays are (z, y, x) for volumes, (n, y, x) for stacks and (y, x) for single
images; voxel sizes are in Å, listed (x, y, z) as in the header. Headers are
parsed with ``mrcfile`` in permissive mode, so files from older tools (no
``MAP `` ID, zero machine stamp) still read; real damage (a truncated data block,
a file that is not MRC) raises :class:`~vitreo.io.errors.InputError` instead.

Conventions (RELION 3.1+):

- modes: 0 int8 (signed since RELION 3.1), 1 int16, 2 float32, 6 uint16,
  12 float16, 101 packed 4-bit counts (SerialEM/IMOD; read only, low nibble
  first, each row starting on a byte boundary);
- a ``.mrcs`` file is a stack whatever its header says; otherwise a file is a
  stack when ispg = 0 and mz = 1 with nz > 1 (MRC2014), else a volume (nz > 1)
  or a single image (nz = 1);
- written files: ispg 0 for images and stacks, 1 for volumes (RELION's writeMRC);
- a voxel size the header lacks (cell or sampling zero) reads as 0.0: take the
  pixel size from the STAR file then.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import mrcfile
import numpy as np
from mrcfile.mrcinterpreter import MrcInterpreter
from numpy.typing import ArrayLike, DTypeLike

from vitreo.io.atomic import atomic_path
from vitreo.io.errors import InputError

HEADER_BYTES = 1024
MODE_4BIT = 101
MODE_DTYPES: dict[int, np.dtype] = {
    0: np.dtype(np.int8),
    1: np.dtype(np.int16),
    2: np.dtype(np.float32),
    6: np.dtype(np.uint16),
    12: np.dtype(np.float16),
}
# Element types write_mrc stores (modes 2, 12, 0, 1, 6; uint8 is widened to uint16, mode 6).
WRITE_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float16, np.int8, np.int16, np.uint16, np.uint8))
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"


@dataclass(frozen=True)
class MrcInfo:
    """What an MRC header says, read without touching the data block."""

    path: str
    shape: tuple[int, int, int]  # (nz, ny, nx) as stored
    mode: int
    dtype: np.dtype  # element type in the file, with its byte order (uint8 for mode 101)
    voxel_size: tuple[float, float, float]  # (x, y, z) in Å; 0.0 where the header has none
    origin: tuple[float, float, float]  # header origin (x, y, z) in Å
    ispg: int
    nsymbt: int  # extended-header size in bytes
    exttyp: str  # extended-header type ("FEI1", "SERI", ... or "")
    is_stack: bool
    compression: str | None  # "gzip", "bzip2" or None
    notes: tuple[str, ...]  # header oddities that were tolerated

    @property
    def nx(self) -> int:
        return self.shape[2]

    @property
    def ny(self) -> int:
        return self.shape[1]

    @property
    def nz(self) -> int:
        return self.shape[0]

    @property
    def is_volume(self) -> bool:
        return not self.is_stack and self.nz > 1

    @property
    def pixel_size(self) -> float:
        """Voxel size along x in Å (0.0 when the header has none)."""
        return self.voxel_size[0]

    @property
    def data_offset(self) -> int:
        """Byte offset of the data block: 1024-byte header plus the extended header."""
        return HEADER_BYTES + self.nsymbt

    @property
    def row_bytes(self) -> int:
        """Bytes per image row (mode 101 packs two pixels per byte)."""
        if self.mode == MODE_4BIT:
            return (self.nx + 1) // 2
        return self.nx * self.dtype.itemsize

    @property
    def data_nbytes(self) -> int:
        return self.row_bytes * self.ny * self.nz


def read_header_info(path: str | os.PathLike[str]) -> MrcInfo:
    """Read and check an MRC header (plain, .gz or .bz2) without reading the data.

    For uncompressed files the file size is checked against the header, so a
    truncated file fails here rather than half-way through a job.
    """
    path_str = str(path)
    compression = _compression(path_str)
    header, notes = _read_header(path_str, compression)
    has_map_id = bytes(header.map)[:3] == b"MAP"

    def fail(problem: str) -> InputError:
        return InputError(path_str, problem if has_map_id else f"not an MRC file (no MAP ID; {problem})")

    mode = int(header.mode)
    nx, ny, nz = int(header.nx), int(header.ny), int(header.nz)
    nsymbt = int(header.nsymbt)
    if mode in (3, 4):
        raise fail(f"complex data (mode {mode}) cannot be read as images")
    if mode not in MODE_DTYPES and mode != MODE_4BIT:
        raise fail(f"unsupported MRC mode {mode}")
    if min(nx, ny, nz) <= 0 or nsymbt < 0:
        raise fail(f"invalid header: nx={nx} ny={ny} nz={nz} nsymbt={nsymbt}")
    byte_order = header.mode.dtype.byteorder
    dtype = np.dtype(np.uint8) if mode == MODE_4BIT else MODE_DTYPES[mode].newbyteorder(byte_order)
    info = MrcInfo(
        path=path_str,
        shape=(nz, ny, nx),
        mode=mode,
        dtype=dtype,
        voxel_size=_voxel_size(header),
        origin=tuple(float(header.origin[axis]) for axis in ("x", "y", "z")),  # type: ignore[arg-type]
        ispg=int(header.ispg),
        nsymbt=nsymbt,
        exttyp=bytes(header.exttyp).decode("ascii", "replace").strip("\x00 "),
        is_stack=_is_stack(path_str, int(header.ispg), int(header.mz), nz),
        compression=compression,
        notes=notes,
    )
    if compression is None:
        found = os.path.getsize(path_str) - info.data_offset
        if found < info.data_nbytes:
            raise fail(_truncated(info.data_nbytes, max(found, 0)))
    return info


class MrcStack:
    """The sections of an MRC file as a sequence of (y, x) images, memory-mapped.

    Index the first axis: ``stack[i]`` gives one (y, x) image; ``stack[a:b]`` and
    ``stack[[i, j, ...]]`` give (k, y, x) arrays. Only the requested images are read. Values keep the
    file's element type in native byte order (mode 101 unpacks to uint8). A
    volume opens as its z-sections; a single image as a stack of one.
    Compressed files cannot be mapped and are decompressed into memory.
    """

    def __init__(self, info: MrcInfo, raw: np.ndarray):
        self.info = info
        self._raw: np.ndarray | None = raw  # (n, ny, row elements) as stored

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.info.shape

    @property
    def dtype(self) -> np.dtype:
        return self.info.dtype.newbyteorder("=")

    @property
    def is_memory_mapped(self) -> bool:
        return isinstance(self._raw, np.memmap)

    def __len__(self) -> int:
        return self.info.nz

    def __getitem__(self, key: int | slice | ArrayLike) -> np.ndarray:
        if self._raw is None:
            raise ValueError(f"{self.info.path}: stack is closed")
        raw = np.array(self._raw[key], dtype=self._raw.dtype.newbyteorder("="))
        if self.info.mode == MODE_4BIT:
            return _unpack_4bit(raw, self.info.nx)
        return raw

    def close(self) -> None:
        """Drop the mapping; arrays returned earlier stay valid (they are copies)."""
        self._raw = None

    def __enter__(self) -> MrcStack:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_stack(path: str | os.PathLike[str]) -> MrcStack:
    """Open an MRC/MRCS file for reading images on demand (see :class:`MrcStack`)."""
    info = read_header_info(path)
    raw_dtype = np.dtype(np.uint8) if info.mode == MODE_4BIT else info.dtype
    raw_shape = (info.nz, info.ny, info.row_bytes // raw_dtype.itemsize)
    if info.compression is None:
        raw = np.memmap(info.path, dtype=raw_dtype, mode="r", offset=info.data_offset, shape=raw_shape)
    else:
        raw = np.frombuffer(_read_compressed_data(info), dtype=raw_dtype).reshape(raw_shape)
    return MrcStack(info, raw)


def read_mrc(path: str | os.PathLike[str], dtype: DTypeLike | None = np.float32) -> tuple[np.ndarray, float]:
    """Read a whole map, stack or image; return (data, voxel size along x in Å).

    Shapes: volume (z, y, x), stack (n, y, x) (a ``.mrcs`` of one image too),
    single image (y, x). ``dtype=None`` keeps the file's element type. The voxel
    size is 0.0 when the header has none.
    """
    with open_stack(path) as stack:
        data = stack[:]
    info = stack.info
    if info.nz == 1 and not info.is_stack:
        data = data[0]
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    return data, info.pixel_size


def write_mrc(
    path: str | os.PathLike[str],
    data: ArrayLike,
    voxel_size: float | tuple[float, float, float],
    *,
    is_stack: bool = False,
    dtype: DTypeLike | None = None,
) -> None:
    """Write an image (y, x), stack (n, y, x, with ``is_stack``) or volume (z, y, x) atomically.

    ``voxel_size`` is in Å, one value or (x, y, z). ``dtype`` picks the mode:
    float32 (2, the default for floating data), float16 (12), int8 (0), int16 (1),
    uint16 (6), uint8 (stored as uint16, mode 6: MRC has no unsigned 8-bit mode
    that RELION reads). Float data written to an integer type is rounded; values
    out of that type's range raise ValueError. Header statistics (min, max, mean,
    rms) are updated; a ``.gz``/``.bz2`` suffix compresses the file.
    """
    array = np.asarray(data)
    if array.ndim not in (2, 3):
        raise ValueError(f"write_mrc: data must be 2D or 3D, got shape {array.shape}")
    if is_stack and array.ndim == 2:
        array = array[np.newaxis]
    target = _output_dtype(array.dtype, dtype)
    array = _convert(array, target)
    if target == np.uint8:
        array = array.astype(np.uint16)
    voxel = tuple(np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,)).tolist())
    compression = {".gz": "gzip", ".bz2": "bzip2"}.get(Path(path).suffix.lower())
    with atomic_path(path) as tmp, mrcfile.new(str(tmp), overwrite=True, compression=compression) as mrc:
        mrc.set_data(np.ascontiguousarray(array))
        if array.ndim == 3 and is_stack:
            mrc.set_image_stack()
        elif array.ndim == 3:
            mrc.header.ispg = 1
            mrc.header.mz = array.shape[0]
        mrc.voxel_size = voxel
        mrc.header.label[0] = f"vitreo {time.strftime('%d-%b-%y %H:%M:%S')}".encode("ascii")
        mrc.header.nlabl = 1


def _output_dtype(source: np.dtype, requested: DTypeLike | None) -> np.dtype:
    if requested is not None:
        target = np.dtype(requested)
    elif source.kind == "f" and source != np.float16:
        target = np.dtype(np.float32)
    else:
        target = source
    if target not in WRITE_DTYPES:
        raise ValueError(f"write_mrc: cannot store {target} in MRC (use one of {', '.join(map(str, WRITE_DTYPES))})")
    return target


def _convert(array: np.ndarray, target: np.dtype) -> np.ndarray:
    if array.dtype == target:
        return array
    if target.kind in "iu":
        limits = np.iinfo(target)
        values = np.rint(array) if array.dtype.kind == "f" else array
        if values.size and (values.min() < limits.min or values.max() > limits.max):
            raise ValueError(f"write_mrc: values outside the {target} range [{limits.min}, {limits.max}]")
        return values.astype(target)
    return array.astype(target)


def _unpack_4bit(packed: np.ndarray, nx: int) -> np.ndarray:
    """Unpack mode-101 bytes (..., row_bytes) into (..., nx) uint8; low nibble is the left pixel."""
    out = np.empty(packed.shape[:-1] + (packed.shape[-1] * 2,), dtype=np.uint8)
    out[..., 0::2] = packed & 0x0F
    out[..., 1::2] = packed >> 4
    return out[..., :nx]


def _read_header(path: str, compression: str | None) -> tuple[np.recarray, tuple[str, ...]]:
    """Interpret the 1024-byte main header with mrcfile (permissive); the extended header is skipped."""
    try:
        with _open_binary(path, compression) as stream:
            prefix = stream.read(HEADER_BYTES)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not an MRC file") from None
    except (EOFError, OSError) as err:
        raise InputError(path, f"cannot read file ({_one_line(err)})") from None
    if len(prefix) < HEADER_BYTES:
        raise InputError(path, f"not an MRC file (only {len(prefix)} bytes, shorter than the 1024-byte header)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        interpreter = _MainHeaderReader(iostream=io.BytesIO(prefix), permissive=True, header_only=True)
    return interpreter.header.copy(), tuple(dict.fromkeys(_one_line(w.message) for w in caught))


class _MainHeaderReader(MrcInterpreter):
    """mrcfile's permissive header interpretation that skips the extended header.

    Skipping it also avoids allocating the nsymbt bytes a corrupt header may claim.
    """

    def _read_extended_header(self) -> None:
        self._extended_header = np.zeros(0, dtype="V1")


def _open_binary(path: str, compression: str | None) -> IO[bytes]:
    opener: Any = {"gzip": gzip.open, "bzip2": bz2.open}.get(compression or "", open)
    return opener(path, "rb")  # type: ignore[no-any-return]


def _read_compressed_data(info: MrcInfo) -> bytes:
    try:
        with _open_binary(info.path, info.compression) as stream:
            stream.seek(info.data_offset)
            data = _read_exactly(stream, info.data_nbytes)
    except (EOFError, OSError) as err:
        raise InputError(info.path, f"file is truncated or corrupt ({_one_line(err)})") from None
    if len(data) < info.data_nbytes:
        raise InputError(info.path, _truncated(info.data_nbytes, len(data)))
    return data


def _read_exactly(stream: IO[bytes], nbytes: int) -> bytes:
    chunks, remaining = [], nbytes
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _compression(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(3)
    except OSError:
        return None  # mrcfile.open reports the problem
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    if magic == _BZIP2_MAGIC:
        return "bzip2"
    return None


def _voxel_size(header: np.recarray) -> tuple[float, float, float]:
    """Cell length / sampling per axis (RELION: only when both are non-zero), else 0.0."""
    sizes = []
    for cell, sampling in ((header.cella.x, header.mx), (header.cella.y, header.my), (header.cella.z, header.mz)):
        value = float(cell) / int(sampling) if int(sampling) > 0 and float(cell) > 0 else 0.0
        sizes.append(float(str(np.float32(value))))  # shortest decimal that the float32 header holds
    return sizes[0], sizes[1], sizes[2]


def _is_stack(path: str, ispg: int, mz: int, nz: int) -> bool:
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() not in (".gz", ".bz2")]
    if suffixes and suffixes[-1] == ".mrcs":
        return True
    return ispg == 0 and mz == 1 and nz > 1


def _truncated(promised: int, found: int) -> str:
    return f"file is truncated: header promises {promised} bytes of data, found {found}"


def _one_line(message: object) -> str:
    return " ".join(str(message).split())
