"""A STAR loop block as typed numpy columns, and lookup of blocks by name."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from vitreo.io.labels import ValueType, label_type


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
