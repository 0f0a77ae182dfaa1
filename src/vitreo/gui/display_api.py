"""Display endpoints: micrographs and map slices as PNG, stacks as sortable montages, STAR
tables as JSON, raw project files, folder listings, and "Save selected" (a Subset selection).

Every file name is project-relative and checked by :func:`vitreo.gui.paths.project_file`.
"""

from __future__ import annotations

import functools
import mimetypes
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from vitreo.gui import images
from vitreo.gui.ctf_fit import has_ctf_fit
from vitreo.gui.paths import project_file, relative_name
from vitreo.gui.selection import save_selection
from vitreo.gui.stacks import MAX_PAGE, montage_page, open_stack_source, sort_order
from vitreo.gui.state import GuiState, gui_state
from vitreo.io.errors import InputError
from vitreo.io.mrc import open_stack, read_header_info
from vitreo.io.star import Table, read_star

router = APIRouter(prefix="/api")
State = Depends(gui_state)
PNG = "image/png"
MAX_STAR_ROWS = 5000
_FILE_SUFFIXES = {".pdf", ".svg", ".png", ".jpg", ".txt", ".log", ".out", ".err", ".html", ".json", ".eps"}


class Selection(BaseModel):
    path: str
    rows: list[int]
    max_per_class: int = -1
    alias: str | None = None


@router.get("/display/kind")
def display_kind(path: str, state: GuiState = State) -> dict[str, Any]:
    """Which view shows a file: micrograph, stack, map, particles, classes, ctf, star or file."""
    return {"path": path, "kind": file_kind(state.root, path)}


def file_kind(root: Path, name: str) -> str:
    """The view for project file ``name`` (see :func:`display_kind`)."""
    path = project_file(root, name)
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", name)
    if path.suffix == ".star":
        try:
            return open_stack_source(root, name).kind
        except InputError:
            return "star"
    if path.suffix == ".ctf" and has_ctf_fit(root, name):
        return "ctf"
    if path.suffix in (".mrc", ".mrcs", ".map", ".st", ".ctf"):
        info = read_header_info(path)
        return "stack" if info.is_stack and info.nz > 1 else "map" if info.is_volume else "micrograph"
    if path.suffix.lower() in _FILE_SUFFIXES:
        return "file"
    raise InputError(name, "vitreo cannot display this kind of file")


@router.get("/display/micrograph.png")
def micrograph_png(path: str, index: int = 0, scale: float = 1.0, sigma: float = 0.0, black: float = 0.0,
                   white: float = 0.0, lowpass: float = 0.0, highpass: float = 0.0,
                   state: GuiState = State) -> Response:
    """One image (``index`` in a stack) with scale, sigma contrast, black/white and filters (Å)."""
    with open_stack(project_file(state.root, path)) as stack:
        if not 0 <= index < len(stack):
            raise ValueError(f"{path} holds {len(stack)} image(s); index {index} is out of range")
        image = stack[index].astype(np.float32)
        pixel = stack.info.pixel_size
    png = images.render(image, pixel, scale, sigma, black, white, lowpass, highpass)
    return Response(png, media_type=PNG)


@router.get("/display/image_info")
def image_info(path: str, state: GuiState = State) -> dict[str, Any]:
    """Size (x, y, z or n) and pixel size of an MRC file."""
    info = read_header_info(project_file(state.root, path))
    return {"path": path, "nx": info.nx, "ny": info.ny, "nz": info.nz, "pixel_size": info.pixel_size,
            "is_stack": info.is_stack, "is_volume": info.is_volume}


@router.get("/display/stack")
def stack_info(path: str, sort: str | None = None, reverse: bool = False, state: GuiState = State) -> dict[str, Any]:
    """A stack's rows in display order, with its STAR columns (sortable) and the sort column's values;
    ``source`` is the file that holds the table (the _model.star an _optimiser.star names)."""
    stack = open_stack_source(state.root, path)
    order = sort_order(stack.table, sort, reverse)
    values = stack.table[sort][order].tolist() if sort else None
    numeric = [label for label in stack.table.labels if stack.table[label].dtype != object]
    return {"path": path, "source": stack.path, "kind": stack.kind, "count": len(stack.table), "labels": stack.table.labels,
            "numeric_labels": numeric, "sort": sort, "reverse": reverse, "order": order.tolist(),
            "values": values, "volumes": stack.volumes, "maps": stack.names.tolist() if stack.volumes else None}


@router.get("/display/montage.png")
def montage_png(path: str, sort: str | None = None, reverse: bool = False, offset: int = 0,
                limit: int = Query(100, ge=1, le=MAX_PAGE), columns: int = Query(10, ge=1, le=100),
                scale: float = 1.0, view: str = "projection", state: GuiState = State) -> Response:
    """Page ``offset``..``offset+limit`` of the sorted stack as one PNG, ``columns`` images per row
    (3D classes: each a tile of its ``view``s along z, y and x: projection or slice)."""
    stack = open_stack_source(state.root, path)
    rows = sort_order(stack.table, sort, reverse)[max(offset, 0):max(offset, 0) + limit]
    tiles = images.rescaled(montage_page(state.root, stack, rows, columns, view), scale)
    return Response(images.to_png(tiles, 0.0, 1.0), media_type=PNG)


@router.post("/display/select")
def select(request: Selection, state: GuiState = State) -> dict[str, Any]:
    """Save the selected rows (particles or classes) as a new Subset selection job."""
    name, count = save_selection(state.project(), request.path, request.rows, request.max_per_class,
                                 request.alias)
    return {"job": name, "particles": count}


@router.get("/display/map")
def map_info(path: str, state: GuiState = State) -> dict[str, Any]:
    """A map's size, voxel size and value statistics."""
    volume, pixel = _volume(state.root, path)
    return {"path": path, "shape": list(volume.shape), "pixel_size": pixel, "min": float(volume.min()),
            "max": float(volume.max()), "mean": float(volume.mean()), "std": float(volume.std())}


@router.get("/display/map/slice.png")
def map_slice(path: str, axis: str = "z", index: int | None = None, scale: float = 1.0, sigma: float = 0.0,
              black: float = 0.0, white: float = 0.0, state: GuiState = State) -> Response:
    """An orthogonal section (axis z: an (y, x) slice; y: (z, x); x: (z, y)); the central one by default."""
    volume, pixel = _volume(state.root, path)
    axes = {"z": 0, "y": 1, "x": 2}
    if axis not in axes:
        raise ValueError(f"axis must be x, y or z, not {axis!r}")
    size = volume.shape[axes[axis]]
    index = size // 2 if index is None else index
    if not 0 <= index < size:
        raise ValueError(f"slice {index} is outside 0..{size - 1}")
    section = np.take(volume, index, axis=axes[axis])
    return Response(images.render(section, pixel, scale, sigma, black, white), media_type=PNG)


def _volume(root: Path, name: str) -> tuple[np.ndarray, float]:
    """The map (z, y, x) and its voxel size; the last two maps read are kept while unchanged on disk."""
    path = project_file(root, name)
    stat = path.stat()
    return _read_volume(str(path), stat.st_mtime_ns, stat.st_size, name)


@functools.lru_cache(maxsize=2)
def _read_volume(path: str, mtime_ns: int, size: int, name: str) -> tuple[np.ndarray, float]:
    with open_stack(path) as stack:
        if not stack.info.is_volume:
            raise InputError(name, "not a 3D map")
        volume = stack[:].astype(np.float32)
        volume.setflags(write=False)
        return volume, stack.info.pixel_size


@router.get("/display/star")
def star_json(path: str, limit: int = Query(MAX_STAR_ROWS, ge=0, le=100_000), state: GuiState = State
              ) -> dict[str, Any]:
    """Every block of a STAR file: tables (labels, first ``limit`` rows, count) and key-value pairs."""
    blocks = read_star(project_file(state.root, path))
    out: dict[str, Any] = {}
    for name, block in blocks.items():
        if isinstance(block, Table):
            rows = [list(row) for row in zip(*(_plain(block[label][:limit]) for label in block.labels))]
            out[name] = {"labels": block.labels, "count": len(block), "rows": rows}
        else:
            out[name] = {"pairs": {key: _plain_value(value) for key, value in block.items()}}
    return {"path": path, "blocks": out}


def _plain(column: np.ndarray) -> list[Any]:
    if column.dtype.kind == "f":
        return [None if not np.isfinite(v) else v for v in column.tolist()]
    return column.tolist()


def _plain_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@router.get("/files")
def raw_file(path: str, state: GuiState = State) -> FileResponse:
    """A project file as it is (logfile PDFs, SVG, text), never one outside the project.

    Sent sandboxed (no scripts, an origin of its own), so a file cannot act as the GUI; PDFs
    are left to the browser's own viewer, which a sandbox would block.
    """
    resolved = project_file(state.root, path)
    if not resolved.is_file():
        raise FileNotFoundError(2, "no such file", path)
    media = mimetypes.guess_type(resolved.name)[0] or "text/plain"
    sandbox = {} if media == "application/pdf" else {"Content-Security-Policy": "sandbox"}
    return FileResponse(resolved, media_type=media, headers=sandbox)


@router.get("/browse")
def browse(path: str = ".", state: GuiState = State) -> dict[str, Any]:
    """A folder's entries (folders first), for File > Display."""
    folder = project_file(state.root, path)
    if not folder.is_dir():
        raise InputError(path, "not a folder")
    entries = []
    for entry in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name)):
        if entry.name.startswith("."):
            continue
        try:
            name = relative_name(state.root, entry)
        except ValueError:  # a link that leads out of the project
            continue
        entries.append({"name": entry.name, "path": name, "folder": entry.is_dir()})
    return {"path": relative_name(state.root, folder) if folder != state.root.resolve() else ".", "entries": entries}


__all__ = ["router", "file_kind"]
