"""Small helpers for building STAR tables row by row, as RELION's MetaDataTable does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vitreo.io.star import Table, coerce_column

STAR_VERSION = 50001  # the ``# version`` RELION 5 writes on its output STAR files


def append_rows(table: Table | None, rows: Mapping[str, Any] | list[Mapping[str, Any]]) -> Table:
    """``table`` with ``rows`` appended; a label missing on either side is filled with
    ``""``, 0 or False, like a value never set in a RELION MetaDataTable."""
    new_rows = [rows] if isinstance(rows, Mapping) else list(rows)
    old = table if table is not None else Table()
    labels = list(old.labels)
    for row in new_rows:
        labels += [label for label in row if label not in labels]
    columns: dict[str, np.ndarray] = {}
    for label in labels:
        kind = old[label] if label in old else coerce_column(label, [row[label] for row in new_rows if label in row])
        blank: Any = "" if kind.dtype == object else kind.dtype.type(0)
        before = old[label] if label in old else np.full(len(old), blank, dtype=kind.dtype)
        after = coerce_column(label, np.array([row.get(label, blank) for row in new_rows], dtype=kind.dtype))
        columns[label] = np.concatenate([before, after])
    return Table.from_columns(columns)


__all__ = ["STAR_VERSION", "append_rows"]
