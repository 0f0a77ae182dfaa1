"""Detector MTF curves: RELION MTF STAR files (rlnResolutionInversePixel in cycles per physical
detector pixel, rlnMtfValue), by path or by the name of a curve shipped in ``vitreo/data/mtf``."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star


def shipped_mtf_names() -> list[str]:
    """Names accepted by ``--mtf`` for the shipped curves (e.g. 'falcon2_300kV')."""
    folder = resources.files("vitreo") / "data" / "mtf"
    return sorted(p.name[len("mtf_") : -len(".star")] for p in folder.iterdir() if p.name.endswith(".star"))


def mtf_file(name: str) -> Path | None:
    """The STAR file of an MTF given by shipped name or path; None for 'none' or ''."""
    if name.lower() in ("", "none"):
        return None
    shipped = resources.files("vitreo") / "data" / "mtf" / f"mtf_{name}.star"
    if shipped.is_file():
        return Path(str(shipped))
    if os.path.isfile(name):
        return Path(name)
    raise InputError(name, f"not an MTF file or a shipped MTF; shipped: {', '.join(shipped_mtf_names())}")


def read_mtf(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in cycles per detector pixel, MTF values) from a RELION MTF STAR file, sorted."""
    tables = [block for block in read_star(path).values() if isinstance(block, Table)]
    table = next((t for t in tables if {"rlnResolutionInversePixel", "rlnMtfValue"} <= set(t.labels)), None)
    if table is None or len(table) < 2:
        raise InputError(path, "no rlnResolutionInversePixel/rlnMtfValue table with at least two points")
    order = np.argsort(table["rlnResolutionInversePixel"])
    return table["rlnResolutionInversePixel"][order], table["rlnMtfValue"][order]
