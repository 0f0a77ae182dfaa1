"""Sets of coordinate files: which micrograph's particles are in which file.

RELION 4/5 picking jobs write an index STAR file (``autopick.star``, ``manualpick.star``,
``extractpick.star``) with a ``data_coordinate_files`` loop of rlnMicrographName and
rlnMicrographCoordinates; RELION 3 and imports use a ``coords_suffix<suffix>`` file in the job
directory, the coordinate file of a micrograph then being found by RELION's naming rule
(:func:`vitreo.io.coords.coordinate_file_for`). :func:`coordinate_files` reads either kind.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vitreo.io.coords import find_coordinate_files
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star

INDEX_BLOCK = "coordinate_files"
SUFFIX_PREFIX = "coords_suffix"


def write_coordinate_index(path: str | os.PathLike[str], files: dict[str, str], version: int = 50001) -> None:
    """Write an index of ``{micrograph: coordinate file}`` (in the given order) atomically."""
    table = Table({"rlnMicrographName": np.array(list(files), dtype=object),
                   "rlnMicrographCoordinates": np.array([str(f) for f in files.values()], dtype=object)})
    write_star(path, {INDEX_BLOCK: table}, version=version)


def read_coordinate_index(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{micrograph: coordinate file}`` from an index STAR file (empty when it lists none)."""
    blocks = read_star(path)
    for block in blocks.values():
        if isinstance(block, Table) and "rlnMicrographCoordinates" in block:
            return dict(zip(map(str, block["rlnMicrographName"]), map(str, block["rlnMicrographCoordinates"])))
    if all(isinstance(b, Table) and not b.labels for b in blocks.values()):
        return {}
    raise InputError(path, "no rlnMicrographName/rlnMicrographCoordinates loop: not a coordinate-file index")


def coordinate_files(node: str | os.PathLike[str], micrographs: list[str]) -> dict[str, Path]:
    """``{micrograph: coordinate file}`` for the ``micrographs`` a coordinates node has picks for.

    ``node`` is an index STAR file or a ``coords_suffix<suffix>`` file; micrographs are matched by
    name, or by file stem when the index names them differently (e.g. after re-processing).
    """
    node = Path(node)
    if not node.is_file():
        raise InputError(node, "coordinates file not found")
    if node.name.startswith(SUFFIX_PREFIX):
        return find_coordinate_files(micrographs, node.parent, node.name[len(SUFFIX_PREFIX):])
    index = read_coordinate_index(node)
    by_stem = {Path(name).stem: file for name, file in index.items()}
    found = {}
    for micrograph in micrographs:
        file = index.get(micrograph) or by_stem.get(Path(micrograph).stem)
        if file is not None:
            found[micrograph] = Path(file)
    return found


__all__ = ["INDEX_BLOCK", "SUFFIX_PREFIX", "write_coordinate_index", "read_coordinate_index", "coordinate_files"]
