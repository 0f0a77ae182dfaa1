"""RELION STAR files: read and write them in RELION's exact text form.

A file is an ordered ``dict`` of blocks keyed by name without ``data_`` (``""`` for a
bare ``data_``). A loop block is a ``Table``; a key-value block is a plain ``dict``
of Python values typed by the label registry (``vitreo.io.labels``).

Text form written (RELION 3.1+/5 ``MetaDataTable::write``): before each block
``\\n# version N\\n`` (unless ``version`` is None), then ``\\ndata_NAME\\n\\n``; loops
as ``loop_ \\n`` + ``_label #i \\n`` lines + rows; every value is followed by one space
and every row ends in ``\\n``; a block ends with `` \\n``. Floats: ``%12.6f``
(``%12.5f`` if negative), or ``%12.6e``/``%12.5e`` when 0 < |v| < 0.001 or
|v| > 100000; ints and bools (0/1): ``%12d``; strings right-aligned to width 10 and
double-quoted when empty, holding whitespace, or starting with a quote (also,
unlike RELION, when starting with ``_``, ``#``, ``;``, ``data_`` or ``loop_``, which
would otherwise be read as syntax). Key-value blocks align values as RELION does.
Empty tables and empty key-value blocks are not written (RELION skips them too).

Reading accepts comments, blank lines, CRLF, tabs, single- or double-quoted values
(a closing quote must be followed by whitespace, as in CIF), ``""``, loop labels
with or without ``#N``, and a missing final newline. Large loops are parsed by
``numpy.loadtxt``'s C reader; anything it cannot take falls back to a Python
tokenizer, which also locates errors. Bad input raises ``InputError`` naming the
file and line.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from vitreo.io.atomic import atomic_path
from vitreo.io.errors import InputError
from vitreo.io.labels import ValueType, infer_type, label_type

PathType = str | PathLike[str]

# ----------------------------------------------------------------------------- Table


class Table:
    """One STAR loop: ordered, equal-length 1-D columns keyed by label (no ``_``).

    Column arrays are int64, float64, bool (RELION bools) or object arrays of ``str``.
    Assigning to a registered label converts to the label's type; a scalar is
    broadcast to the table length.
    """

    __slots__ = ("columns",)

    def __init__(self, columns: Mapping[str, ArrayLike] | None = None) -> None:
        self.columns: dict[str, np.ndarray] = {}
        for label, values in (columns or {}).items():
            self[label] = values

    @classmethod
    def from_columns(cls, columns: Mapping[str, ArrayLike]) -> Table:
        """A table from ``{label: values}``, converting each column to its label's type."""
        return cls(columns)

    @classmethod
    def _from_arrays(cls, columns: dict[str, np.ndarray]) -> Table:
        table = cls()
        table.columns = columns
        return table

    @property
    def labels(self) -> list[str]:
        """Column labels in order."""
        return list(self.columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __contains__(self, label: object) -> bool:
        return label in self.columns

    def __getitem__(self, label: str) -> np.ndarray:
        try:
            return self.columns[label]
        except KeyError:
            raise KeyError(f"no column {label!r}; columns are {', '.join(self.columns) or 'none'}") from None

    def __setitem__(self, label: str, values: ArrayLike) -> None:
        if not label or any(c.isspace() for c in label):
            raise ValueError(f"invalid STAR label {label!r}")
        others = [k for k in self.columns if k != label]
        n = len(self.columns[others[0]]) if others else None
        if n is not None and np.ndim(values) == 0:
            values = np.full(n, values, dtype=object if isinstance(values, str) else None)
        column = coerce_column(label, values)
        if n is not None and len(column) != n:
            raise ValueError(f"column {label!r} has {len(column)} values, table has {n} rows")
        self.columns[label] = column

    def __delitem__(self, label: str) -> None:
        del self.columns[label]

    def select(self, rows: ArrayLike) -> Table:
        """A new table with the rows picked by a boolean mask or an index array."""
        index = np.asarray(rows)
        return Table._from_arrays({k: v[index] for k, v in self.columns.items()})

    def copy(self) -> Table:
        """A deep copy (object columns hold immutable ``str``, so copying the array suffices)."""
        return Table._from_arrays({k: v.copy() for k, v in self.columns.items()})

    def equals(self, other: Table, *, rtol: float = 0.0, atol: float = 0.0) -> bool:
        """Same labels in the same order, same column kinds and equal values (NaN equals
        NaN; floats compared within ``rtol``/``atol``)."""
        if not isinstance(other, Table) or self.labels != other.labels or len(self) != len(other):
            return False
        for label, a in self.columns.items():
            b = other.columns[label]
            if a.dtype.kind != b.dtype.kind:
                return False
            if a.dtype.kind == "f":
                if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
                    return False
            elif not np.array_equal(a, b):
                return False
        return True

    def __repr__(self) -> str:
        return f"Table({len(self)} rows: {', '.join(self.columns)})"


def coerce_column(label: str, values: ArrayLike) -> np.ndarray:
    """``values`` as a 1-D column of the type registered for ``label``; an unknown
    label keeps its numpy kind (float64, int64, bool, else ``str`` objects)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"column {label!r} must be 1-D, got shape {array.shape}")
    kind = label_type(label) or _kind_of_dtype(array.dtype)
    try:
        return _as_kind(array, kind)
    except (TypeError, ValueError) as err:
        raise ValueError(f"column {label!r}: {err}") from None


def _kind_of_dtype(dtype: np.dtype) -> ValueType:
    return {"f": float, "i": int, "u": int, "b": bool}.get(dtype.kind, str)


def _as_kind(array: np.ndarray, kind: ValueType) -> np.ndarray:
    if kind is float:
        return array.astype(np.float64, copy=False)
    if kind is int:
        if array.dtype.kind == "f":
            if not np.all(np.isfinite(array) & (array == np.rint(array))):
                raise ValueError("non-integer values for an integer label")
        return array.astype(np.int64, copy=False)
    if kind is bool:
        if array.dtype.kind != "b":
            numbers = array.astype(np.float64)
            if not np.all((numbers == 0) | (numbers == 1)):
                raise ValueError("boolean label needs values 0 or 1")
        return array.astype(bool, copy=False)
    if array.dtype.kind == "S":
        array = np.char.decode(array, "utf-8")
    if array.dtype == object and all(type(v) is str for v in array):
        return array
    return np.array([str(v) for v in array.tolist()], dtype=object)


def find_block(blocks: Mapping[str, Table | dict], *names: str) -> Table | dict:
    """The first of ``names`` present in ``blocks`` (e.g. ``"particles", "images", ""``)."""
    for name in names:
        if name in blocks:
            return blocks[name]
    raise KeyError(f"none of the blocks {', '.join(map(repr, names))} found; blocks are "
                   f"{', '.join(map(repr, blocks)) or 'none'}")


# ----------------------------------------------------------------------------- reading

_END_OF_ROWS = re.compile(rb"\n(?=data_|loop_|_)")
_BLANK_LINE = re.compile(rb"\n[ \t\r\f\v]*(?=\n)")
_VERSION = re.compile(r"#\s*version\s+(\d+)")
_FAST_MIN_BYTES = 32 * 1024
_LOADTXT_DTYPES = {float: np.float64, int: np.int64, bool: np.int64, str: object, None: object}
_KIND_NAMES = {float: "a number", int: "an integer", bool: "0 or 1", str: "text"}


def read_star(path: PathType) -> dict[str, Table | dict[str, Any]]:
    """Read every block of a STAR file, in file order (see module docstring)."""
    return _Reader(Path(path)).parse()


def read_star_version(path: PathType) -> int | None:
    """The number of the first ``# version NNNNN`` comment (30001, 50001...), or None."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                stripped = line.strip()
                if stripped.startswith("#"):
                    match = _VERSION.match(stripped)
                    if match:
                        return int(match.group(1))
                elif stripped.startswith("data_"):
                    return None
    except OSError as err:
        raise InputError(path, f"cannot read file: {err.strerror or err}") from None
    return None


def tokenize(line: str) -> list[str]:
    """Split one STAR line into values: whitespace-separated words or quoted strings
    (``'...'`` or ``"..."``, closed by a quote followed by whitespace or the end; a
    quote after RELION's ``\\a`` escape does not close). A word starting with ``#``
    starts a comment. Raises ValueError on an unterminated quote."""
    if '"' not in line and "'" not in line and "#" not in line:
        return line.split()
    tokens: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n or line[i] == "#":
            return tokens
        quote = line[i]
        if quote in "\"'":
            j = i + 1
            while True:
                j = line.find(quote, j)
                if j < 0:
                    raise ValueError(f"unterminated quoted value starting at column {i + 1}")
                if (j + 1 == n or line[j + 1].isspace()) and line[j - 1] != "\a":
                    break
                j += 1
            tokens.append(line[i + 1 : j].replace("\a", ""))
            i = j + 1
        else:
            j = i
            while j < n and not line[j].isspace():
                j += 1
            tokens.append(line[i:j])
            i = j


class _Reader:
    """Line scanner over the raw bytes of one file; loop bodies are parsed in bulk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(path, "file not found") from None
        except OSError as err:
            raise InputError(path, f"cannot read file: {err.strerror or err}") from None
        if b"\x00" in self.data[:4096]:
            raise InputError(path, "binary data, not a STAR text file")
        self.pos = 0
        self.line = 1

    # -- line access

    def _decode(self, raw: bytes, line: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(self.path, "not UTF-8 text", line + raw.count(b"\n", 0, err.start)) from None

    def _next_line(self) -> tuple[str, int] | None:
        if self.pos >= len(self.data):
            return None
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end
        line = self.line
        text = self._decode(self.data[self.pos : end], line)
        self.pos, self.line = end + 1, line + 1
        return text, line

    def _tokens(self, text: str, line: int) -> list[str]:
        try:
            return tokenize(text)
        except ValueError as err:
            raise InputError(self.path, str(err), line) from None

    # -- structure

    def parse(self) -> dict[str, Table | dict[str, Any]]:
        blocks: dict[str, Table | dict[str, Any]] = {}
        name: str | None = None
        while (got := self._next_line()) is not None:
            text, line = got
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            first, *rest = stripped.split(maxsplit=1)
            if (first.startswith("data_") or first == "loop_") and rest and not rest[0].startswith("#"):
                raise InputError(self.path, f"unexpected text after {first}: {_snippet(rest[0])}", line)
            if first.startswith("data_"):
                name = first[5:]
                if name in blocks:
                    raise InputError(self.path, f"block data_{name} appears twice", line)
                blocks[name] = {}
                continue
            if name is None:
                raise InputError(self.path, f"expected data_ before {_snippet(stripped)}", line)
            block = blocks[name]
            if first == "loop_":
                if isinstance(block, Table) or block:
                    raise InputError(self.path, f"block data_{name} holds more than one loop or list", line)
                blocks[name] = self._loop(line)
            elif stripped.startswith("_"):
                if isinstance(block, Table):
                    raise InputError(self.path, f"label {_snippet(stripped)} after the loop of data_{name}", line)
                label, value = self._key_value(text, line)
                if label in block:
                    raise InputError(self.path, f"label _{label} appears twice in data_{name}", line)
                block[label] = value
            else:
                raise InputError(self.path, f"unexpected text {_snippet(stripped)}", line)
        return blocks

    def _key_value(self, text: str, line: int) -> tuple[str, Any]:
        tokens = self._tokens(text, line)
        label = tokens[0][1:]
        if not label:
            raise InputError(self.path, "empty label", line)
        if len(tokens) < 2:
            raise InputError(self.path, f"no value for _{label}", line)
        if len(tokens) > 2:
            raise InputError(self.path, f"more than one value for _{label}", line)
        column = self._convert(label, [tokens[1]], [line])
        return label, column[0].item() if column.dtype != object else column[0]

    def _loop(self, loop_line: int) -> Table:
        labels: list[str] = []
        while True:
            pos, line = self.pos, self.line
            got = self._next_line()
            if got is None:
                break
            stripped = got[0].strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not stripped.startswith("_"):
                self.pos, self.line = pos, line
                break
            label = stripped.split()[0][1:]
            if not label or label in labels:
                raise InputError(self.path, f"{'empty' if not label else 'repeated'} label _{label}", got[1])
            labels.append(label)
        if not labels:
            raise InputError(self.path, "loop_ without column labels", loop_line)
        return self._rows(labels)

    # -- loop bodies

    def _rows(self, labels: list[str]) -> Table:
        """Parse the rows from the current position up to the next line that starts with
        ``data_``, ``loop_`` or ``_`` (trailing comment lines belong to what follows)."""
        data, start, first_line = self.data, self.pos, self.line
        match = _END_OF_ROWS.search(data, start)
        stop = match.start() + 1 if match else len(data)
        end = self._trim_trailing(start, stop)
        first_row_end = data.find(b"\n", start, end)
        if data[start : end if first_row_end < 0 else first_row_end].lstrip()[:5] in (b"data_", b"loop_"):
            end = start
        at_end = stop == len(data) and not data[end:stop].strip()
        table = None
        if end - start >= _FAST_MIN_BYTES and all(data.find(c, start, end) < 0 for c in (b"#", b'"', b"'")):
            table = self._rows_fast(labels, first_line, None if at_end else self._count_rows(start, end))
        if table is None:
            table = self._rows_slow(labels, start, end, first_line)
        self.pos = end
        self.line = first_line + (0 if at_end else data.count(b"\n", start, end))
        return table

    def _count_rows(self, start: int, end: int) -> int:
        """Lines in [start, end) that are not blank (both ends hold a row)."""
        lines = self.data.count(b"\n", start, end) + 1
        return lines - len(_BLANK_LINE.findall(self.data, start, end))

    def _trim_trailing(self, start: int, end: int) -> int:
        """Move ``end`` back over trailing whitespace and whole-line comments."""
        data = self.data
        while True:
            while end > start and data[end - 1] in b" \t\r\n\f\v":
                end -= 1
            line_start = max(data.rfind(b"\n", start, end) + 1, start)
            if end > start and data[line_start:end].lstrip().startswith(b"#"):
                end = line_start
                continue
            return end

    def _rows_fast(self, labels: list[str], first_line: int, rows: int | None) -> Table | None:
        """numpy's C reader on the file itself, from ``first_line`` for ``rows`` rows (to
        the end when None); None when it cannot parse them. The caller has checked that
        the rows hold no comment or quote characters."""
        kinds = [label_type(label) for label in labels]
        dtype = np.dtype([(f"c{i}", _LOADTXT_DTYPES[kind]) for i, kind in enumerate(kinds)])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with open(self.path, encoding="utf-8") as fh:
                    array = np.loadtxt(fh, dtype=dtype, comments=None, skiprows=first_line - 1,
                                       max_rows=rows, ndmin=1)
        except (ValueError, UnicodeDecodeError, OverflowError):
            return None
        if rows is not None and len(array) != rows:
            return None
        columns: dict[str, np.ndarray] = {}
        for i, (label, kind) in enumerate(zip(labels, kinds)):
            column = np.ascontiguousarray(array[f"c{i}"])
            if kind is bool:
                if not np.all((column == 0) | (column == 1)):
                    return None
                column = column.astype(bool)
            elif kind is None:
                column = _as_kind(column, infer_type(column))
            columns[label] = column
        return Table._from_arrays(columns)

    def _rows_slow(self, labels: list[str], start: int, end: int, first_line: int) -> Table:
        text = self._decode(self.data[start:end], first_line)
        rows: list[list[str]] = []
        row_lines: list[int] = []
        for offset, line_text in enumerate(text.split("\n")):
            line = first_line + offset
            tokens = self._tokens(line_text, line)
            if not tokens:
                continue
            if len(tokens) != len(labels):
                raise InputError(self.path, f"row has {len(tokens)} value{'s' * (len(tokens) != 1)}, expected "
                                 f"{len(labels)} (one per label of the loop)", line)
            rows.append(tokens)
            row_lines.append(line)
        by_column = list(zip(*rows)) if rows else [()] * len(labels)
        return Table._from_arrays({label: self._convert(label, list(tokens), row_lines)
                                   for label, tokens in zip(labels, by_column)})

    def _convert(self, label: str, tokens: list[str], lines: list[int]) -> np.ndarray:
        """Text values of one column -> typed array; InputError at the first bad value."""
        kind = label_type(label) or infer_type(tokens)
        try:
            return _parse_tokens(tokens, kind)
        except (ValueError, OverflowError):
            pass
        for token, line in zip(tokens, lines):
            try:
                _parse_tokens([token], kind)
            except (ValueError, OverflowError):
                raise InputError(self.path, f"_{label}: {_snippet(token)} is not {_KIND_NAMES[kind]}", line) from None
        raise AssertionError("unreachable: a column failed but no single value did")


def _parse_tokens(tokens: list[str], kind: ValueType) -> np.ndarray:
    """Convert text values; integers written as integral floats (``3.000000``) are accepted."""
    if kind is str:
        return np.array(tokens, dtype=object) if tokens else np.empty(0, dtype=object)
    if kind is float:
        return np.array(tokens, dtype=np.float64)
    try:
        values = np.array(tokens, dtype=np.int64)
    except ValueError:
        values = _as_kind(np.array(tokens, dtype=np.float64), int)
    return _as_kind(values, bool) if kind is bool else values


def _snippet(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[: width - 3] + "...")


# ----------------------------------------------------------------------------- writing

_CHUNK_ROWS = 65536
_SPACE = 32
_RESERVED_STARTS = ("_", "#", ";", "data_", "loop_")


def write_star(path: PathType, blocks: Mapping[str, Table | Mapping[str, Any]],
               version: int | None = 30001) -> None:
    """Write ``blocks`` atomically in RELION's text form; ``version=None`` omits the
    ``# version`` lines (pre-3.1 style). Use ``read_star_version`` to keep a file's own."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for name, block in blocks.items():
            if any(c.isspace() for c in name):
                raise ValueError(f"invalid STAR block name {name!r}")
            if isinstance(block, Table):
                if len(block) == 0:
                    continue
                fh.write(_block_head(name, version))
                _write_table(fh, block)
            elif isinstance(block, Mapping):
                if not block:
                    continue
                fh.write(_block_head(name, version))
                fh.write(_format_key_values(block))
            else:
                raise TypeError(f"block {name!r} is a {type(block).__name__}, expected Table or dict")


def _block_head(name: str, version: int | None) -> bytes:
    head = "" if version is None else f"\n# version {int(version)}\n"
    return f"{head}\ndata_{name}\n\n".encode()


def _write_table(fh: Any, table: Table) -> None:
    for label in table.labels:
        if any(c.isspace() for c in label):
            raise ValueError(f"invalid STAR label {label!r}")
    header = "loop_ \n" + "".join(f"_{label} #{i} \n" for i, label in enumerate(table.labels, 1))
    fh.write(header.encode())
    for first in range(0, len(table), _CHUNK_ROWS):
        rows = slice(first, first + _CHUNK_ROWS)
        fh.write(_join_rows([format_column(column[rows], 10) for column in table.columns.values()]))
    fh.write(b" \n")


def _format_key_values(block: Mapping[str, Any]) -> bytes:
    width = max(10, *(len(label) for label in block))
    lines = []
    for label, value in block.items():
        if not label or any(c.isspace() for c in label):
            raise ValueError(f"invalid STAR label {label!r}")
        text = format_column(coerce_column(label, [value]), 0)[0].decode("utf-8")
        lines.append(f"_{label}{' ' * (12 + width - len(label))}{text}\n")
    return ("".join(lines) + " \n").encode("utf-8")


def _join_rows(columns: list[np.ndarray]) -> memoryview:
    """Byte strings per column -> rows ``v1 v2 ... vn \\n``. Shorter entries of a column
    are NUL-padded by numpy; those NULs are squeezed out at the end."""
    n = len(columns[0])
    widths = [c.dtype.itemsize for c in columns]
    matrix = np.empty((n, sum(widths) + len(widths) + 1), dtype=np.uint8)
    offset, padded = 0, False
    for column, width in zip(columns, widths):
        matrix[:, offset : offset + width] = np.ascontiguousarray(column).view(np.uint8).reshape(n, width)
        matrix[:, offset + width] = _SPACE
        offset += width + 1
        padded = padded or bool(np.strings.str_len(column).min() < width)
    matrix[:, -1] = ord("\n")
    flat = matrix.reshape(-1)
    return memoryview(flat[flat != 0] if padded else flat)


def format_column(values: np.ndarray, width: int = 10) -> np.ndarray:
    """RELION's text of each value as a numpy bytes array; strings are escaped and
    right-aligned to ``width`` (10 in loops, 0 in key-value blocks)."""
    kind = values.dtype.kind
    if kind == "f":
        return _format_floats(values)
    if kind in "iu":
        return _format_ints(values.astype(np.int64))
    if kind == "b":
        return _format_ints(values.astype(np.int64))
    return _format_strings(values, width)


def _table(texts: Iterable[bytes], width: int) -> np.ndarray:
    """Equal-length byte strings as rows of a (n, width) uint8 lookup table."""
    return np.frombuffer(b"".join(texts), dtype=np.uint8).reshape(-1, width)


@functools.cache
def _lookup_tables() -> dict[str, np.ndarray]:
    """Digit tables for the vectorised number formatters (built on first use)."""
    small = range(100_000)
    return {
        "int6": _table((b"%6d" % i for i in range(-99_999, 100_000)), 6),
        # fixed point, bytes 0-5: "%5d." (>= 0) | "-%d" right-aligned to 6 (< 0)
        "fixed_head": _table([b"%5d." % i for i in small] + [(b"-%d" % i).rjust(6) for i in small], 6),
        # bytes 6-8: 3 decimals (>= 0) | "." + 2 decimals (< 0)
        "fixed_mid": _table([b"%03d" % i for i in range(1000)] + [b".%02d" % i for i in range(100)], 3),
        "d3": _table((b"%03d" % i for i in range(1000)), 3),
        # exponent form, bytes 0-4: "L.ddd" (>= 0) | "-L.dd" (< 0), L the leading digit
        "sci_head": _table([b"%d.%03d" % (i // 1000, i % 1000) for i in range(10_000)]
                           + [b"-%d.%02d" % (i // 100, i % 100) for i in range(1000)], 5),
        "exponent": _table((b"e%+03d" % e for e in range(-99, 100)), 4),
    }


def _patch(texts: np.ndarray, index: np.ndarray, replacements: list[bytes]) -> np.ndarray:
    """Put ``replacements`` at ``index``, widening the bytes dtype when needed."""
    if index.size == 0:
        return texts
    width = max(texts.dtype.itemsize, *(len(r) for r in replacements))
    texts = texts.astype(f"S{width}")
    texts[index] = replacements
    return texts


def _format_ints(values: np.ndarray) -> np.ndarray:
    """``%12d`` for each value; |v| < 100000 from a lookup table."""
    small = (values > -100_000) & (values < 100_000)
    out = np.full((len(values), 12), _SPACE, dtype=np.uint8)
    out[:, 6:] = _lookup_tables()["int6"][np.where(small, values, 0) + 99_999]
    large = np.flatnonzero(~small)
    return _patch(out.view("S12").ravel(), large, [b"%12d" % v for v in values[large].tolist()])


def float_text(value: float) -> str:
    """RELION's text for one float (the exact reference for the vectorised formatter)."""
    if math.isnan(value):
        return ("-nan" if math.copysign(1.0, value) < 0 else "nan").rjust(12)
    magnitude = abs(value)
    if 0.0 < magnitude < 0.001 or magnitude > 100000.0:
        return ("%12.5e" if value < 0 else "%12.6e") % value
    return ("%12.5f" if value < 0 else "%12.6f") % value


def _fixed_bytes(magnitude: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``%12.6f`` (``%12.5f`` when negative) of 0 or 0.001 <= |v| <= 100000 as (n, 12)
    bytes, and a mask of rows that are exact: rounding |v|·10^d in binary is correct
    unless the fraction lies within 1e-4 of one half (far above its rounding error)."""
    tables = _lookup_tables()
    scaled = magnitude * np.where(negative, 1e5, 1e6)
    whole = np.rint(scaled).astype(np.int64)
    divisor = np.where(negative, 100_000, 1_000_000)
    integer = whole // divisor
    decimals = whole - integer * divisor
    exact = (np.abs(scaled - np.floor(scaled) - 0.5) > 1e-4) & (integer < 100_000)
    integer = np.where(exact, integer, 0)
    decimals = np.where(exact, decimals, 0)
    out = np.empty((len(magnitude), 12), dtype=np.uint8)
    out[:, 0:6] = tables["fixed_head"][integer + 100_000 * negative]
    out[:, 6:9] = tables["fixed_mid"][decimals // 1000 + 1000 * negative]
    out[:, 9:12] = tables["d3"][decimals % 1000]
    return out, exact


def _sci_bytes(magnitude: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``%12.6e`` (``%12.5e`` when negative) as (n, 12) bytes and a mask of exact rows:
    |v|·10^k with an exactly representable 10^|k| (|k| <= 22) is correctly rounded, so
    rounding it is exact unless the fraction lies within 1e-6 of one half."""
    tables = _lookup_tables()
    digits = np.where(negative, 5, 6)
    exponent = np.floor(np.log10(magnitude)).astype(np.int64)
    with np.errstate(over="ignore", invalid="ignore"):  # huge |shift|: those rows are not exact
        for _ in range(2):  # log10 may be one off next to powers of ten
            shift = digits - exponent
            power = 10.0 ** np.minimum(np.abs(shift), 22)
            scaled = np.where(shift >= 0, magnitude * power, magnitude / power)
            exponent += (scaled >= 10.0 ** (digits + 1)).astype(np.int64) - (scaled < 10.0 ** digits)
        whole = np.where(np.isfinite(scaled), np.rint(scaled), 0).astype(np.int64)
    carry = whole >= 10 ** (digits + 1)
    whole = np.where(carry, whole // 10, whole)
    exponent = exponent + carry
    exact = (np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6) & (np.abs(digits - exponent) <= 22)
    exact &= (np.abs(exponent) <= 99) & (whole >= 10 ** digits) & (whole < 10 ** (digits + 1))
    whole = np.where(exact, whole, 10 ** digits)
    exponent = np.where(exact, exponent, 0)
    rest = whole % 10 ** digits
    lead = whole // 10 ** digits
    head = np.where(negative, 10_000 + lead * 100 + rest // 1000, lead * 1000 + rest // 1000)
    out = np.empty((len(magnitude), 12), dtype=np.uint8)
    out[:, 0:5] = tables["sci_head"][head]
    out[:, 5:8] = tables["d3"][rest % 1000]
    out[:, 8:12] = tables["exponent"][exponent + 99]
    return out, exact


def _format_floats(values: np.ndarray) -> np.ndarray:
    """``float_text`` for each value: fixed and exponent forms from lookup tables;
    rows they cannot do exactly (rare), -0.0, NaN and infinities via ``float_text``."""
    v = np.asarray(values, dtype=np.float64)
    magnitude = np.abs(v)
    negative = v < 0
    with np.errstate(invalid="ignore"):
        fixed = (magnitude <= 100000.0) & ((magnitude >= 0.001) | ((v == 0) & ~np.signbit(v)))
        exponential = np.isfinite(v) & ((magnitude > 100000.0) | ((magnitude < 0.001) & (magnitude > 0)))
    out = np.empty((len(v), 12), dtype=np.uint8)
    done = np.zeros(len(v), dtype=bool)
    for mask, formatter in ((fixed, _fixed_bytes), (exponential, _sci_bytes)):
        rows: slice | np.ndarray = slice(None) if mask.all() else np.flatnonzero(mask)
        if mask.any():
            out[rows], done[rows] = formatter(magnitude[rows], negative[rows])
    slow = np.flatnonzero(~done)
    return _patch(out.view("S12").ravel(), slow, [float_text(x).encode() for x in v[slow].tolist()])


def escape_string(value: str) -> str:
    """RELION's ``escapeStringForSTAR``: double-quote values that are empty, hold
    whitespace or start with a quote (and values starting with STAR syntax); a quote
    followed by whitespace gets RELION's ``\\a`` escape."""
    if not value:
        return '""'
    if not (value[0] in "\"'" or " " in value or "\t" in value or value.startswith(_RESERVED_STARTS)):
        return value
    parts = ['"']
    n = len(value)
    for pos, char in enumerate(value):
        if char == '"' and (pos + 1 == n - 1 or (pos + 1 < n and value[pos + 1] in " \t")):
            parts.append("\a")
        parts.append(char)
    parts.append('"')
    return "".join(parts)


def _format_strings(values: np.ndarray, width: int) -> np.ndarray:
    strings = values.tolist()
    try:
        texts = np.array(strings, dtype="S") if strings else np.empty(0, dtype="S1")
    except UnicodeEncodeError:
        texts = np.array([s.encode("utf-8") for s in strings], dtype="S")
    if texts.dtype.itemsize == 0:
        texts = texts.astype("S1")
    if np.any(np.strings.find(texts, b"\n") >= 0) or np.any(np.strings.find(texts, b"\r") >= 0):
        raise ValueError("STAR values cannot contain line breaks")
    special = (np.strings.str_len(texts) == 0) | (np.strings.find(texts, b" ") >= 0)
    special |= np.strings.find(texts, b"\t") >= 0
    for start in ('"', "'", *_RESERVED_STARTS):
        special |= np.strings.startswith(texts, start.encode())
    index = np.flatnonzero(special)
    texts = _patch(texts, index, [escape_string(strings[i]).encode("utf-8") for i in index.tolist()])
    return np.strings.rjust(texts, width) if width else texts


def blocks_equal(a: Mapping[str, Any], b: Mapping[str, Any], *, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """Same block names in order and equal contents (tables via ``Table.equals``)."""
    if list(a) != list(b):
        return False
    for name, block in a.items():
        other = b[name]
        if isinstance(block, Table):
            if not block.equals(other, rtol=rtol, atol=atol):
                return False
        elif not isinstance(other, Mapping) or list(block) != list(other) or not all(
            _values_equal(block[k], other[k], rtol, atol) for k in block
        ):
            return False
    return True


def _values_equal(x: Any, y: Any, rtol: float, atol: float) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=rtol, abs_tol=atol)
    return type(x) is type(y) and x == y


__all__ = [
    "Table", "coerce_column", "find_block", "read_star", "read_star_version", "write_star",
    "tokenize", "format_column", "float_text", "escape_string", "blocks_equal",
]
