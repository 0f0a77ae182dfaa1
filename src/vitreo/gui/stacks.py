"""Particle and class stacks for the montage view: their table, image names, sorting and pages.

A stack comes from a particles STAR file (``rlnImageName``), a _model.star (its classes,
``rlnReferenceImage`` in ``data_model_classes``: 2D averages, or 3D maps shown as their views
along z, y and x, see :mod:`vitreo.gui.volume_views`), an _optimiser.star (the _model.star it
names), a table of references such as Select's class_averages.star, or an MRC stack itself.
Rows are numbered from 0 in file order; a sort gives the order in which the montage shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitreo.gui.paths import project_file
from vitreo.gui.volume_views import read_tile
from vitreo.io.errors import InputError
from vitreo.io.image_refs import format_image_names, parse_image_names, read_images
from vitreo.io.mrc import read_header_info
from vitreo.io.star import Table, read_star
from vitreo.plots.montage import montage

MAX_PAGE = 1000  # images in one montage page


@dataclass(frozen=True)
class Stack:
    """Images named by a table: ``kind`` is particles, classes or images (a bare MRC stack, a
    table of references); ``volumes`` is true for 3D classes (each name is a map)."""

    path: str
    kind: str
    table: Table
    image_label: str
    blocks: dict
    volumes: bool = False

    @property
    def names(self) -> np.ndarray:
        """The image names, without RELION's ``:mrc`` type suffix."""
        names = np.asarray(self.table[self.image_label]).astype(str)
        return np.where(np.strings.endswith(names, ":mrc"), np.strings.slice(names, 0, -4), names)


def open_stack_source(root: Path, name: str) -> Stack:
    """The stack that project file ``name`` holds or names; InputError when it is none."""
    path = project_file(root, name)
    if path.suffix != ".star":
        info = read_header_info(path)
        table = Table({"rlnImageName": format_image_names(np.arange(info.nz), name).astype(object)})
        return Stack(name, "images", table, "rlnImageName", {})
    blocks = read_star(path)
    optimiser = blocks.get("optimiser_general")
    if isinstance(optimiser, dict) and optimiser.get("rlnModelStarFile"):  # a classification: its classes
        return open_stack_source(root, str(optimiser["rlnModelStarFile"]))
    classes, general = blocks.get("model_classes"), blocks.get("model_general")
    if isinstance(classes, Table) and "rlnReferenceImage" in classes:
        volumes = isinstance(general, dict) and int(general.get("rlnReferenceDimensionality", 2)) == 3
        return Stack(name, "classes", classes, "rlnReferenceImage", blocks, volumes)
    for block in ("particles", "images", ""):
        table = blocks.get(block)
        if isinstance(table, Table) and "rlnImageName" in table:
            return Stack(name, "particles", table, "rlnImageName", blocks)
    for table in blocks.values():
        if isinstance(table, Table) and "rlnReferenceImage" in table:
            return Stack(name, "images", table, "rlnReferenceImage", blocks)
    raise InputError(name, "no images here (no rlnImageName, no rlnReferenceImage, no data_model_classes)")


def sort_order(table: Table, label: str | None, reverse: bool = False) -> np.ndarray:
    """Row indices sorted by column ``label`` (stable; file order when None), descending if ``reverse``."""
    n = len(table)
    if not label:
        order = np.arange(n)
        return order[::-1].copy() if reverse else order
    values = table[label]
    keys = values.astype(str) if values.dtype == object else values
    order = np.argsort(keys, kind="stable")
    if reverse:  # descending, ties still in file order
        order = np.argsort(_descending_rank(keys, order), kind="stable")
    return order


def _descending_rank(keys: np.ndarray, ascending: np.ndarray) -> np.ndarray:
    """For each row, a rank such that sorting by it gives descending keys with ties in file order."""
    sorted_keys = keys[ascending]
    group = np.concatenate([[0], np.cumsum(sorted_keys[1:] != sorted_keys[:-1])])
    rank = np.empty(len(keys), dtype=np.int64)
    rank[ascending] = group.max(initial=0) - group
    return rank


def page_images(root: Path, stack: Stack, rows: np.ndarray, view: str = "projection") -> np.ndarray:
    """The images of ``rows`` (n, y, x), each file checked to lie inside the project; for 3D
    classes the tiles of their maps (``view``: projection or slice, see volume_views)."""
    names = stack.names[rows]
    _, paths = parse_image_names(names)
    files = {str(file): project_file(root, str(file)) for file in np.unique(paths)}
    if stack.volumes:
        return np.stack([read_tile(files[str(file)], view) for file in paths])
    return read_images(names, root)


def montage_page(root: Path, stack: Stack, rows: np.ndarray, columns: int, view: str = "projection") -> np.ndarray:
    """The images of ``rows`` tiled without gaps, ``columns`` per row, each scaled to [0, 1]."""
    if len(rows) > MAX_PAGE:
        raise ValueError(f"at most {MAX_PAGE} images per page")
    if len(rows) == 0:
        raise ValueError("no images on this page")
    return montage(page_images(root, stack, rows, view), columns=columns, gap=0)


__all__ = ["MAX_PAGE", "Stack", "open_stack_source", "sort_order", "page_images", "montage_page"]
