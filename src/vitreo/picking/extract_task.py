"""Extract the particles of one micrograph: cut, rescale, normalise, invert, write the stack and its rows.

A picklable callable for worker processes. The stack goes to ``<stem>.mrcs`` and the particles'
rows to ``<stem>_extract.star`` (a ``data_images`` table, as RELION writes it) in the same
folder; both atomically, the STAR file last, so its existence means the micrograph is done.
Coordinates outside the micrograph and boxes crossing its edge are skipped and counted.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitreo.io.coords import centres
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import Table, write_star
from vitreo.picking.extraction import ExtractSettings, cut_boxes, prepare_boxes, select_boxes
from vitreo.picking.micrograph_table import MicrographEntry
from vitreo.picking.particle_table import particle_rows

ROWS_BLOCK = "images"


@dataclass(frozen=True)
class ExtractResult:
    """Outcome for one micrograph: rows written, skipped counts, or the error that stopped it."""

    micrograph: str
    rows_file: str
    extracted: int = 0
    outside: int = 0
    near_edge: int = 0
    error: str = ""


def stack_path(rows_file: str | Path) -> Path:
    """The particle stack beside a ``<stem>_extract.star`` file: ``<stem>.mrcs``."""
    rows_file = Path(rows_file)
    return rows_file.with_name(rows_file.name.removesuffix("_extract.star") + ".mrcs")


@dataclass(frozen=True)
class ExtractTask:
    """Extract (micrograph, coordinates table, rows file) items with fixed settings."""

    settings: ExtractSettings
    float16: bool = True
    star_version: int = 50001
    seed: int = 0

    def __call__(self, item: tuple[MicrographEntry, Table, str]) -> ExtractResult:
        entry, coordinates, rows_file = item
        try:
            return self._extract(entry, coordinates, rows_file)
        except (InputError, ValueError, OSError) as err:
            return ExtractResult(entry.name, rows_file, error=str(err))

    def _extract(self, entry: MicrographEntry, coordinates: Table, rows_file: str) -> ExtractResult:
        image, _ = read_mrc(entry.name)
        if image.ndim != 2:
            raise InputError(entry.name, f"expected a single micrograph, found {image.shape[0]} sections")
        selection = select_boxes(centres(coordinates), self.settings.box, image.shape)
        kept = coordinates.select(selection.kept)
        boxes = cut_boxes(torch.from_numpy(image), centres(kept), self.settings.box)
        generator = torch.Generator().manual_seed(self.seed + zlib.crc32(entry.name.encode()))
        particles = prepare_boxes(boxes, self.settings, generator).numpy()
        stack = stack_path(rows_file)
        pixel = entry.pixel_size * self.settings.box / self.settings.final_box
        if len(particles):
            write_mrc(stack, particles.astype(np.float16 if self.float16 else np.float32), pixel, is_stack=True)
        write_star(rows_file, {ROWS_BLOCK: particle_rows(kept, entry, str(stack))}, version=self.star_version)
        return ExtractResult(entry.name, rows_file, len(kept), selection.outside, selection.near_edge)


__all__ = ["ROWS_BLOCK", "ExtractResult", "stack_path", "ExtractTask"]
