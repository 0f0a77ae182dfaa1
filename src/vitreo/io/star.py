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

import re
import warnings
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from vitreo.io.atomic import atomic_path
from vitreo.io.errors import InputError
from vitreo.io.labels import ValueType, infer_type, label_type
from vitreo.io.star_text import _SPACE, escape_string, float_text, format_column
from vitreo.io.table import Table, _as_kind, blocks_equal, coerce_column, find_block

PathType = str | PathLike[str]

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


__all__ = [
    "Table", "coerce_column", "find_block", "read_star", "read_star_version", "write_star",
    "tokenize", "format_column", "float_text", "escape_string", "blocks_equal",
]
