"""RELION's text form of STAR values: vectorised number formatting and string quoting.

Floats: ``%12.6f`` (``%12.5f`` if negative), or ``%12.6e``/``%12.5e`` when 0 < |v| < 0.001 or
|v| > 100000; ints and bools (0/1): ``%12d``; strings right-aligned and double-quoted when
empty, holding whitespace, starting with a quote, or starting with STAR syntax.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import numpy as np

_SPACE = 32
_RESERVED_STARTS = ("_", "#", ";", "data_", "loop_")


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
