"""Convert STAR files between the RELION 2.x/3.0 layout and RELION 3.1+.

RELION 3.1 moved per-image optics (voltage, Cs, amplitude contrast, pixel size, beam
tilt...) into a ``data_optics`` table that rows reference by ``rlnOpticsGroup``, and
changed offsets from pixels (``rlnOriginX``) to Ångström (``rlnOriginXAngst``).

``convert_to_relion31`` follows RELION's ``StarConverter::convert_3p0_particlesTo_3p1``:
one optics group per distinct combination of optics values, numbered by first
appearance and named ``opticsGroupN``; pixel size = 10000 · rlnDetectorPixelSize (µm)
/ rlnMagnification, stored as ``rlnImagePixelSize`` for particles,
``rlnMicrographPixelSize`` and ``rlnMicrographOriginalPixelSize`` for micrographs, and
(unlike RELION, which drops it) ``rlnMicrographOriginalPixelSize`` for movies; offsets
(and their priors, and helical track lengths) times the pixel size. The table is
renamed ``particles``, ``micrographs`` or ``movies`` after its name column. 3.0 model
and optimiser values in pixels (``rlnSigmaOffsets``...) become their ``...Angst`` twins
using ``rlnPixelSize``. ``convert_to_relion30`` does the reverse for tools that want
the old layout; it keeps ``rlnOpticsGroup`` and all optics columns on every row, so
3.1 -> 3.0 -> 3.1 gives back the same tables (to float precision).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.optics import optics_row_index
from vitreo.io.star import Table

Blocks = Mapping[str, Table | dict[str, Any]]

OPTICS_LABELS: tuple[str, ...] = (
    "rlnOpticsGroupName", "rlnAmplitudeContrast", "rlnBeamTiltX", "rlnBeamTiltY", "rlnSphericalAberration",
    "rlnVoltage", "rlnDetectorPixelSize", "rlnMagnification", "rlnImagePixelSize", "rlnMicrographPixelSize",
    "rlnMicrographOriginalPixelSize", "rlnImageSize", "rlnImageDimensionality", "rlnCtfDataAreCtfPremultiplied",
    "rlnMtfFileName", "rlnOddZernike", "rlnEvenZernike", "rlnMagMat00", "rlnMagMat01", "rlnMagMat10",
    "rlnMagMat11",
)
"""Labels that live in ``data_optics`` in 3.1+ and on every row in 3.0 (RELION's own
list is amplitude contrast, beam tilt, Cs, voltage, detector pixel size, magnification)."""

OFFSET_LABELS: dict[str, str] = {
    "rlnOriginX": "rlnOriginXAngst", "rlnOriginY": "rlnOriginYAngst", "rlnOriginZ": "rlnOriginZAngst",
    "rlnOriginXPrior": "rlnOriginXPriorAngst", "rlnOriginYPrior": "rlnOriginYPriorAngst",
    "rlnOriginZPrior": "rlnOriginZPriorAngst", "rlnHelicalTrackLength": "rlnHelicalTrackLengthAngst",
}
"""Per-row values in pixels (3.0) -> Ångström (3.1+), scaled by the row's pixel size."""

MODEL_LABELS: dict[str, str] = {
    "rlnSigmaOffsets": "rlnSigmaOffsetsAngst", "rlnAccuracyTranslations": "rlnAccuracyTranslationsAngst",
    "rlnOverallAccuracyTranslations": "rlnOverallAccuracyTranslationsAngst",
    "rlnBodySigmaOffset": "rlnBodySigmaOffsetAngst",
}
"""Model/optimiser values in pixels (3.0) -> Ångström (3.1+), scaled by ``rlnPixelSize``."""

_NAME_COLUMNS = (("rlnImageName", "particles"), ("rlnMicrographName", "micrographs"),
                 ("rlnMicrographMovieName", "movies"))
_PIXEL_LABELS = {"particles": ("rlnImagePixelSize",),
                 "micrographs": ("rlnMicrographPixelSize", "rlnMicrographOriginalPixelSize"),
                 "movies": ("rlnMicrographOriginalPixelSize",)}
_RELION30_NAMES = {"particles": "images", "micrographs": "", "movies": ""}


def table_kind(table: Table) -> str | None:
    """``particles``, ``micrographs`` or ``movies`` from the table's name column, else None."""
    for label, kind in _NAME_COLUMNS:
        if label in table:
            return kind
    return None


def _data_block(blocks: Blocks) -> tuple[str, str] | None:
    """(block name, kind) of the first particles/micrographs/movies table."""
    for name, block in blocks.items():
        if name != "optics" and isinstance(block, Table) and (kind := table_kind(block)):
            return name, kind
    return None


def _labels(block: Table | Mapping[str, Any]) -> list[str]:
    return block.labels if isinstance(block, Table) else list(block)


def is_pre31(blocks: Blocks) -> bool:
    """True for a RELION 2.x/3.0 file: a data table without ``data_optics``, or values
    in pixels that 3.1 stores in Ångström (``rlnOriginX``, ``rlnSigmaOffsets``...)."""
    pixel_labels = OFFSET_LABELS.keys() | MODEL_LABELS.keys()
    if any(pixel_labels.intersection(_labels(block)) for block in blocks.values()):
        return True
    return "optics" not in blocks and _data_block(blocks) is not None


def convert_to_relion31(blocks: Blocks, pixel_size: float | None = None, *, image_size: int | None = None,
                        project_dir: str | PathLike[str] | None = None) -> dict[str, Table | dict[str, Any]]:
    """3.0 blocks -> 3.1 blocks (``optics`` first); 3.1 input is returned unchanged.

    ``pixel_size`` (Å) overrides the one derived from the file. For particles,
    ``rlnImageSize``/``rlnImageDimensionality`` come from ``image_size`` or, as RELION
    does, from the header of each group's first image under ``project_dir``; otherwise
    they are left out. Raises InputError when offsets need a pixel size the file lacks.
    """
    if not is_pre31(blocks):
        return dict(blocks)
    found = _data_block(blocks) if "optics" not in blocks else None
    model_pixel = pixel_size or _model_pixel_size(blocks)
    out: dict[str, Table | dict[str, Any]] = {}
    for name, block in blocks.items():
        if found and name == found[0]:
            optics, table = _split_optics(block, found[1], pixel_size, image_size, project_dir)
            out["optics"] = optics
            out[found[1]] = table
        else:
            out[name] = _rescale(block, MODEL_LABELS, model_pixel)
    return out


def convert_to_relion30(blocks: Blocks) -> dict[str, Table | dict[str, Any]]:
    """3.1+ blocks -> 3.0 layout: optics columns copied onto every row, offsets in
    pixels, pixel size also as rlnMagnification = 10000 and rlnDetectorPixelSize = Å/px;
    the table is named ``images`` (particles) or ``""``. Write it with ``version=None``.
    3.0 input is returned unchanged."""
    if is_pre31(blocks):
        return dict(blocks)
    found = _data_block(blocks)
    model_pixel = _model_pixel_size(blocks)
    out: dict[str, Table | dict[str, Any]] = {}
    for name, block in blocks.items():
        if name == "optics" and found:
            continue
        if found and name == found[0]:
            out[_RELION30_NAMES[found[1]]] = _merge_optics(block, blocks.get("optics"), found[1])
        else:
            out[name] = _rescale(block, {v: k for k, v in MODEL_LABELS.items()}, None if model_pixel is None
                                 else 1.0 / model_pixel)
    return out


# ----------------------------------------------------------------------------- 3.0 -> 3.1


def _split_optics(table: Table, kind: str, pixel_size: float | None, image_size: int | None,
                  project_dir: str | PathLike[str] | None) -> tuple[Table, Table]:
    present = [label for label in table.labels if label in OPTICS_LABELS]
    keys = present + (["rlnOpticsGroup"] if "rlnOpticsGroup" in table else [])
    group, first_rows = _group_rows(table, keys)
    ids = (table["rlnOpticsGroup"][first_rows] if "rlnOpticsGroup" in table
           else np.arange(1, len(first_rows) + 1, dtype=np.int64))
    names = (table["rlnOpticsGroupName"][first_rows] if "rlnOpticsGroupName" in table
             else np.array([f"opticsGroup{i}" for i in ids], dtype=object))
    optics: dict[str, Any] = {"rlnOpticsGroup": ids, "rlnOpticsGroupName": names}
    optics.update({label: table[label][first_rows] for label in present if label != "rlnOpticsGroupName"})

    angpix = _group_pixel_size(optics, kind, pixel_size, len(first_rows))
    if "rlnDetectorPixelSize" in optics and "rlnMagnification" in optics:
        del optics["rlnDetectorPixelSize"], optics["rlnMagnification"]
    if angpix is not None:
        for label in _PIXEL_LABELS[kind]:
            if pixel_size is not None or label not in optics:
                optics[label] = angpix
    if kind == "particles" and "rlnImageSize" not in optics:
        optics.update(_image_sizes(table, first_rows, image_size, project_dir))

    columns: dict[str, Any] = {}
    for label, values in table.columns.items():
        if label in present:
            continue
        if label in OFFSET_LABELS:
            if angpix is None:
                raise InputError(None, f"_{label} is in pixels and the file gives no pixel size: "
                                       "pass pixel_size (Å/px) to convert it to Ångström")
            columns[OFFSET_LABELS[label]] = values * angpix[group]
        else:
            columns[label] = values
    columns["rlnOpticsGroup"] = ids[group]
    return Table(optics), Table(columns)


def _group_rows(table: Table, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Group index of each row (0-based, in order of first appearance) over the values
    of ``labels``, and the first row of each group."""
    if not labels or len(table) == 0:
        return np.zeros(len(table), dtype=np.int64), np.zeros(min(len(table), 1), dtype=np.int64)
    codes = np.stack([np.unique(table[label], return_inverse=True)[1].ravel() for label in labels], axis=1)
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()], first[order]


def _group_pixel_size(optics: dict[str, Any], kind: str, pixel_size: float | None, groups: int) -> np.ndarray | None:
    """Å/px of each optics group: given > file's own Å/px label > 10000·DPS/Mag."""
    if pixel_size is not None:
        return np.full(groups, float(pixel_size))
    for label in _PIXEL_LABELS[kind]:
        if label in optics:
            return np.asarray(optics[label], dtype=np.float64)
    if "rlnDetectorPixelSize" in optics and "rlnMagnification" in optics:
        return 10000.0 * optics["rlnDetectorPixelSize"] / optics["rlnMagnification"]
    return None


def _image_sizes(table: Table, first_rows: np.ndarray, image_size: int | None,
                 project_dir: str | PathLike[str] | None) -> dict[str, np.ndarray]:
    """rlnImageSize and rlnImageDimensionality per group, or {} when unknown."""
    if image_size is not None:
        n = len(first_rows)
        return {"rlnImageSize": np.full(n, image_size), "rlnImageDimensionality": np.full(n, 2)}
    if project_dir is None or "rlnImageName" not in table:
        return {}
    shapes = [_image_shape(Path(project_dir), name) for name in table["rlnImageName"][first_rows]]
    if any(shape is None for shape in shapes):
        return {}
    return {"rlnImageSize": np.array([s[0] for s in shapes]),
            "rlnImageDimensionality": np.array([s[1] for s in shapes])}


def _image_shape(project_dir: Path, image_name: str) -> tuple[int, int] | None:
    """(box size, 2 or 3) from the MRC header of ``N@stack`` or a single image file."""
    in_stack = "@" in image_name
    path = project_dir / image_name.split("@", 1)[-1]
    try:
        with mrcfile.open(path, header_only=True, permissive=True) as mrc:
            nx, nz = int(mrc.header.nx), int(mrc.header.nz)
    except (OSError, ValueError):
        return None
    return nx, 3 if (nz > 1 and not in_stack and not path.name.endswith(".mrcs")) else 2


def _model_pixel_size(blocks: Blocks) -> float | None:
    general = blocks.get("model_general")
    if isinstance(general, Mapping) and "rlnPixelSize" in general:
        return float(general["rlnPixelSize"])
    return None


def _rescale(block: Table | dict[str, Any], pairs: Mapping[str, str], factor: float | None) -> Table | dict[str, Any]:
    """Rename ``pairs`` labels in place, multiplying their values by ``factor``."""
    hits = [label for label in _labels(block) if label in pairs]
    if not hits:
        return block
    if factor is None:
        raise InputError(None, f"_{hits[0]} needs a pixel size to convert: pass pixel_size (Å/px)")
    if isinstance(block, Table):
        return Table({pairs.get(k, k): (v * factor if k in pairs else v) for k, v in block.columns.items()})
    return {pairs.get(k, k): (float(v) * factor if k in pairs else v) for k, v in block.items()}


# ----------------------------------------------------------------------------- 3.1 -> 3.0


def _merge_optics(table: Table, optics: Table | dict | None, kind: str) -> Table:
    row_of_group = optics_row_index(table, optics, kind)
    angpix = next((optics[label][row_of_group] for label in _PIXEL_LABELS[kind] if label in optics), None)
    pixels = {v: k for k, v in OFFSET_LABELS.items()}
    columns: dict[str, Any] = {}
    for label, values in table.columns.items():
        if label in pixels:
            if angpix is None:
                raise InputError(None, f"data_optics gives no pixel size to convert _{label} to pixels")
            columns[pixels[label]] = values / angpix
        else:
            columns[label] = values
    for label in optics.labels:
        if label != "rlnOpticsGroup" and label not in columns:
            columns[label] = optics[label][row_of_group]
    if angpix is not None:
        columns["rlnMagnification"] = np.full(len(table), 10000.0)
        columns["rlnDetectorPixelSize"] = angpix
    return Table(columns)
