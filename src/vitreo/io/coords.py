"""Particle coordinate files, found and read as RELION's Import/Extract do.

A micrograph's coordinate file is its path without the extension plus a suffix
(RELION 2.1 tutorial §3.4: ``Micrographs/mic001.mrc`` + ``_manualpick.star`` ->
``Micrographs/mic001_manualpick.star``). Inside a job folder the micrograph's own job
prefix is replaced by that folder, as RELION writes picks:
``MotionCorr/job002/Movies/m1.mrc`` + ``_autopick.star`` in ``AutoPick/job008`` ->
``AutoPick/job008/Movies/m1_autopick.star``.

The suffix's extension decides the format (RELION ``Preprocessing::readCoordinates``):

- ``.star``: RELION; the first loop holding ``rlnCoordinateX``/``rlnCoordinateY``,
  with all its other columns (``rlnAutopickFigureOfMerit``, ``rlnClassNumber``,
  ``rlnAnglePsi``...).
- ``.box``: EMAN/boxer ``x y w h`` per line, (x, y) the lower-left box corner, so the
  centre is (x + w/2, y + h/2). RELION divides integers (``w/2`` rounds down for odd
  boxes); we keep the exact centre as a float.
- anything else (``.pos`` xmipp 2.4, ``.coords`` ximdisp, ``.txt``): plain text whose
  first line may be a header (xmipp 2.4 ``# <X position> <Y position>``, ximdisp
  ``x y density``) and whose other lines start with the centre ``x y``. Later ``#``
  lines are comments. A third number is ``rlnCoordinateZ`` in plain text; in ximdisp
  ``.coords`` it is the density and is dropped.

Coordinates are in micrograph pixels, x along columns, y along rows, as RELION uses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from os import PathLike
from pathlib import Path

import numpy as np

from vitreo.io.atomic import write_text_atomic
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star

PathType = str | PathLike[str]

_JOB_PREFIX = re.compile(r"^[A-Za-z0-9]+/job\d+/")


def coordinate_file_for(micrograph_path: PathType, suffix: str, coord_dir: PathType | None = None) -> Path:
    """The coordinate file of a micrograph: its path without extension + ``suffix``,
    placed under ``coord_dir`` (with any leading ``<Type>/jobNNN/`` of the micrograph
    path dropped) when given."""
    if not suffix:
        raise ValueError("an empty coordinate suffix would name the micrograph itself")
    stem = Path(micrograph_path).with_suffix("").as_posix()
    if coord_dir is None:
        return Path(stem + suffix)
    return Path(coord_dir) / (_JOB_PREFIX.sub("", stem) + suffix)


def find_coordinate_files(micrograph_paths: Iterable[PathType], coord_dir: PathType | None,
                          suffix: str) -> dict[str, Path]:
    """``{micrograph: coordinate file}`` for the micrographs whose file exists; RELION
    skips micrographs without picks the same way."""
    found = {}
    for micrograph in micrograph_paths:
        path = coordinate_file_for(micrograph, suffix, coord_dir)
        if path.is_file():
            found[str(micrograph)] = path
    return found


def read_coordinates(path: PathType) -> Table:
    """Particle centres (``rlnCoordinateX``/``rlnCoordinateY``, pixels) and any extra
    columns of one coordinate file, in the format its extension names."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".star":
        return _read_star_coordinates(path)
    lines = _read_lines(path)
    if suffix == ".box":
        return _read_box(path, lines)
    return _read_plain(path, lines, density_column=suffix == ".coords")


def centres(table: Table) -> np.ndarray:
    """(n, 2) float array of (x, y) centres in pixels."""
    return np.stack([table["rlnCoordinateX"], table["rlnCoordinateY"]], axis=1).astype(np.float64)


def write_coordinates(path: PathType, table: Table, box_size: int | None = None, version: int = 30001) -> None:
    """Write one coordinate file atomically: RELION STAR (bare ``data_`` block, all
    columns) for ``.star``; EMAN ``.box`` (tab-separated integer ``x y w h`` with the
    corner at centre − box/2, rounded to whole pixels) needs ``box_size``."""
    path = Path(path)
    for label in ("rlnCoordinateX", "rlnCoordinateY"):
        if label not in table:
            raise ValueError(f"coordinates need a {label} column")
    suffix = path.suffix.lower()
    if suffix == ".star":
        write_star(path, {"": table}, version=version)
    elif suffix == ".box":
        if box_size is None or box_size <= 0:
            raise ValueError("writing .box coordinates needs a positive box_size (pixels)")
        corners = np.rint(centres(table) - box_size / 2.0).astype(np.int64)
        write_text_atomic(path, "".join(f"{x}\t{y}\t{box_size}\t{box_size}\n" for x, y in corners.tolist()))
    else:
        raise ValueError(f"cannot write coordinates as {suffix or 'a file without extension'}: use .star or .box")


def _read_star_coordinates(path: Path) -> Table:
    blocks = read_star(path)
    tables = [block for block in blocks.values() if isinstance(block, Table)]
    for table in tables:
        if "rlnCoordinateX" in table and "rlnCoordinateY" in table:
            return table
    if not tables or all(not table.labels for table in tables):
        return Table({"rlnCoordinateX": np.empty(0), "rlnCoordinateY": np.empty(0)})
    raise InputError(path, "no loop with rlnCoordinateX and rlnCoordinateY")


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except UnicodeDecodeError:
        raise InputError(path, "not a text file") from None
    except OSError as err:
        raise InputError(path, f"cannot read file: {err.strerror or err}") from None


def _numbers(path: Path, words: list[str], count: int, line: int) -> list[float]:
    try:
        return [float(word) for word in words[:count]]
    except ValueError:
        raise InputError(path, f"expected {count} numbers, found {' '.join(words[:count])!r}", line) from None


def _read_box(path: Path, lines: list[str]) -> Table:
    rows = []
    for line, text in enumerate(lines, 1):
        words = text.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) < 4:
            raise InputError(path, f"a .box line needs x y width height, found {len(words)} values", line)
        x, y, w, h = _numbers(path, words, 4, line)
        rows.append((x + w / 2.0, y + h / 2.0))
    return _table(rows, ("rlnCoordinateX", "rlnCoordinateY"))


def _read_plain(path: Path, lines: list[str], density_column: bool) -> Table:
    rows = []
    header_checked = False
    for line, text in enumerate(lines, 1):
        words = text.split()
        if not words:
            continue
        if not header_checked:
            header_checked = True
            if not _is_number(words[0]) or len(words) < 2 or not _is_number(words[1]):
                continue  # header line: "x y density", "# <X position> <Y position>"...
        if words[0].startswith("#"):
            continue
        if len(words) < 2:
            raise InputError(path, "a coordinate line needs x and y", line)
        with_z = not density_column and len(words) > 2 and _is_number(words[2])
        rows.append(tuple(_numbers(path, words, 3 if with_z else 2, line)))
    if rows and len({len(row) for row in rows}) > 1:
        rows = [row[:2] for row in rows]
    labels = ("rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ")
    return _table(rows, labels[: len(rows[0]) if rows else 2])


def _table(rows: list[tuple[float, ...]], labels: tuple[str, ...]) -> Table:
    values = np.array(rows, dtype=np.float64).reshape(len(rows), len(labels))
    return Table({label: values[:, i] for i, label in enumerate(labels)})


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


__all__ = ["coordinate_file_for", "find_coordinate_files", "read_coordinates", "centres", "write_coordinates"]
