"""Optics groups (RELION 3.1+): join the data_optics values onto each particle/micrograph row."""

from __future__ import annotations

from typing import Any

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.star import Table


def optics_row_index(table: Table, optics: Table | dict | None, kind: str = "particles") -> np.ndarray:
    """Row of ``optics`` that holds each row's rlnOpticsGroup (int64, len(table))."""
    if not isinstance(optics, Table) or "rlnOpticsGroup" not in table:
        raise InputError(None, f"the {kind} table has no optics groups (needs data_optics and rlnOpticsGroup)")
    ids = optics["rlnOpticsGroup"]
    order = np.argsort(ids)
    where = np.minimum(np.searchsorted(ids[order], table["rlnOpticsGroup"]), len(ids) - 1)
    rows = order[where]
    missing = ids[rows] != table["rlnOpticsGroup"]
    if missing.any():
        bad = table["rlnOpticsGroup"][np.flatnonzero(missing)[0]]
        raise InputError(None, f"rlnOpticsGroup {bad} is not in data_optics")
    return rows


def with_optics(table: Table, optics: Table | dict | None, kind: str = "particles") -> dict[str, Any]:
    """The table's columns plus, per row, every optics column the table does not have itself."""
    rows = optics_row_index(table, optics, kind)
    columns: dict[str, Any] = dict(table.columns)
    for label in optics.labels:
        if label not in columns:
            columns[label] = optics[label][rows]
    return columns
