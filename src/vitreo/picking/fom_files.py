"""FOM maps on disc, so re-picking with new thresholds skips the correlation (RELION's
--write_fom_maps / --read_fom_maps).

One MRC stack per micrograph beside its coordinate file, ``<root>_<pickname>_fom.mrcs``, at the
work pixel size: template picking stores five sections (FOM, psi in degrees, 0-based reference,
local background mean, local background standard deviation), LoG picking two (response,
diameter in Å). The micrograph's shape and pixel size, needed to turn work pixels back into
coordinates, come from the micrograph itself when the maps are read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitreo.io.errors import InputError
from vitreo.io.mrc import read_header_info, read_mrc, write_mrc
from vitreo.picking.fom import FomMaps
from vitreo.picking.log_picker import LogMaps
from vitreo.picking.work_grid import WorkGrid

SUFFIX = "_fom.mrcs"


@dataclass(frozen=True)
class MicrographMaps:
    """FOM maps of one micrograph with the work grid they live on and the micrograph's (ny, nx)."""

    maps: FomMaps | LogMaps
    grid: WorkGrid
    shape: tuple[int, int]


def fom_path(coordinate_file: str | os.PathLike[str]) -> Path:
    """The FOM maps file that goes with a coordinate file (``x_autopick.star`` -> ``x_autopick_fom.mrcs``)."""
    path = Path(coordinate_file)
    return path.with_name(path.stem + SUFFIX)


def write_fom_maps(path: str | os.PathLike[str], maps: MicrographMaps) -> None:
    """Write the maps atomically (float32 sections, see the module docstring)."""
    m = maps.maps
    layers = [m.fom, m.psi, m.reference.float(), m.mean, m.std] if isinstance(m, FomMaps) else [m.fom, m.diameter]
    stack = torch.stack([layer.float().cpu() for layer in layers]).numpy()
    write_mrc(path, stack, maps.grid.work_pixel_size, is_stack=True)


def read_fom_maps(path: str | os.PathLike[str], micrograph: str | os.PathLike[str], pixel_size: float) -> MicrographMaps:
    """Maps written by :func:`write_fom_maps` for ``micrograph`` (its pixel size in Å)."""
    if not Path(path).is_file():
        raise InputError(path, "FOM maps not found: run auto-picking once with 'Write FOM maps?' set to Yes")
    stack, _ = read_mrc(path)
    info = read_header_info(micrograph)
    shape = (info.ny, info.nx)
    size = max(shape)
    grid = WorkGrid(size, int(stack.shape[-1]), pixel_size)
    layers = [torch.from_numpy(np.ascontiguousarray(layer)) for layer in stack]
    if len(layers) == 5:
        maps: FomMaps | LogMaps = FomMaps(layers[0], layers[1], layers[2].round().long(), layers[3], layers[4])
    elif len(layers) == 2:
        maps = LogMaps(layers[0], layers[1])
    else:
        raise InputError(path, f"expected 5 (template) or 2 (LoG) FOM sections, found {len(layers)}")
    return MicrographMaps(maps, grid, shape)


__all__ = ["SUFFIX", "MicrographMaps", "fom_path", "write_fom_maps", "read_fom_maps"]
