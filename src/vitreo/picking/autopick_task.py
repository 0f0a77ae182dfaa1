"""Auto-pick one micrograph end to end: read it, compute (or read back) its FOM maps, search the
peaks, write the coordinate file atomically. A picklable callable, so micrographs can be handed
to worker processes; a bad micrograph reports its error instead of stopping the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vitreo.io.coords import write_coordinates
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc
from vitreo.picking.autopick import LogPicker, TemplatePicker, picks_table
from vitreo.picking.fom_files import fom_path, read_fom_maps, write_fom_maps
from vitreo.picking.micrograph_table import MicrographEntry


@dataclass(frozen=True)
class PickResult:
    """What picking one micrograph gave: its FOMs (one per pick), a note, or the error that stopped it."""

    micrograph: str
    coordinates: str
    fom: np.ndarray = field(default_factory=lambda: np.empty(0))
    note: str = ""
    error: str = ""


@dataclass(frozen=True)
class AutopickTask:
    """Pick (micrograph, coordinate file) pairs with ``picker`` on ``device``; FOM maps read or written
    beside the coordinate files on request; micrograph paths relative to the project directory."""

    picker: TemplatePicker | LogPicker
    read_maps: bool = False
    write_maps: bool = False
    coordinate_version: int = 50001
    device: str = "cpu"

    def __call__(self, item: tuple[MicrographEntry, str]) -> PickResult:
        entry, coordinates = item
        try:
            return self._pick(entry, coordinates)
        except (InputError, ValueError, OSError) as err:
            return PickResult(entry.name, coordinates, error=str(err))

    def _pick(self, entry: MicrographEntry, coordinates: str) -> PickResult:
        maps_file = fom_path(coordinates)
        if self.read_maps:
            maps = read_fom_maps(maps_file, entry.name, entry.pixel_size)
        else:
            image, _ = read_mrc(entry.name)
            if image.ndim != 2:
                raise InputError(entry.name, f"expected a single micrograph, found {image.shape[0]} sections")
            ctf = entry.ctf_params() if isinstance(self.picker, TemplatePicker) and self.picker.settings.use_ctf else None
            maps = self.picker.compute(torch.from_numpy(image).to(self.device), entry.pixel_size, ctf)
            if self.write_maps:
                write_fom_maps(maps_file, maps)
        peaks = self.picker.pick(maps)
        Path(coordinates).parent.mkdir(parents=True, exist_ok=True)
        table = picks_table(peaks, with_references=isinstance(self.picker, TemplatePicker))
        write_coordinates(coordinates, table, version=self.coordinate_version)
        return PickResult(entry.name, coordinates, peaks.fom, maps.grid.note)


__all__ = ["PickResult", "AutopickTask"]
