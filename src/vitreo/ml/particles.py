"""Particles for the maximum-likelihood engine: images, CTFs, groups and starting offsets.

Read from a RELION 3.1+ particles STAR file (data_optics + data_particles). Groups (for noise
spectra and intensity scales) are rlnGroupName, else rlnMicrographName, else one group for all.
Offsets are in pixels (x, y), from rlnOriginX/YAngst: the particle centre lies at
(N//2 − offset), as RELION says.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.io.errors import InputError
from vitreo.io.image_refs import read_images
from vitreo.io.optics import with_optics
from vitreo.io.star import Table, read_star


@dataclass(frozen=True)
class ParticleTable:
    """A particles STAR file: its particle and optics tables, the particle columns joined with their
    optics values, and the one pixel size (Å) they share."""

    path: Path
    particles: Table
    optics: Table | None
    columns: dict[str, Any]
    pixel_size: float

    def __len__(self) -> int:
        return len(self.particles)

    def column(self, label: str, default: float = 0.0) -> np.ndarray:
        """A numeric column as float64, or ``default`` for every row where the column is absent."""
        if label in self.columns:
            return np.asarray(self.columns[label], np.float64)
        return np.full(len(self), default)

    def flag(self, label: str) -> bool:
        """Whether an optics flag (e.g. rlnCtfDataAreCtfPremultiplied) is set for any particle."""
        return bool(np.any(self.column(label)))


def read_particle_table(star_path: str | os.PathLike[str]) -> ParticleTable:
    """Read and check a particles STAR file: rows, image names, and one pixel size for all."""
    star_path = Path(star_path)
    blocks = read_star(star_path)
    table = blocks.get("particles")
    if not isinstance(table, Table) or len(table) == 0:
        raise InputError(star_path, "no particles (needs a data_particles loop with rows)")
    optics = blocks.get("optics")
    try:
        columns = with_optics(table, optics)
    except InputError as err:
        raise InputError(star_path, err.problem) from None
    for label in ("rlnImageName", "rlnImagePixelSize"):
        if label not in columns:
            raise InputError(star_path, f"missing column {label}")
    pixel_sizes = np.unique(columns["rlnImagePixelSize"])
    if len(pixel_sizes) != 1:
        raise InputError(star_path, f"particles have several pixel sizes {pixel_sizes.tolist()}; rescale first")
    return ParticleTable(star_path, table, optics if isinstance(optics, Table) else None, columns, float(pixel_sizes[0]))


def read_ctf(table: ParticleTable, device: torch.device | str = "cpu") -> CtfParams | None:
    """Per-particle CTF parameters, or None when the file has no rlnDefocusU."""
    if "rlnDefocusU" not in table.columns:
        return None
    try:
        return CtfParams.from_columns(table.columns, device=device)
    except ValueError as err:
        raise InputError(table.path, str(err)) from None


@dataclass(frozen=True)
class ParticleSet:
    """Everything the ML engine reads per particle, held in memory (pre-read).

    ``images`` (n, N, N) float32; ``groups`` (n,) int64 into ``group_names``; ``offsets`` (n, 2)
    float64 pixels (x, y); ``ctf`` None for no CTF correction; ``ctf_phase_flipped`` and
    ``ctf_premultiplied`` as rlnCtfDataArePhaseFlipped / rlnCtfDataAreCtfPremultiplied.
    """

    table: ParticleTable
    images: torch.Tensor
    ctf: CtfParams | None
    groups: torch.Tensor
    group_names: list[str]
    offsets: torch.Tensor
    ctf_phase_flipped: bool = False
    ctf_premultiplied: bool = False

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def box(self) -> int:
        return self.images.shape[-1]

    @property
    def pixel_size(self) -> float:
        return self.table.pixel_size

    @property
    def n_groups(self) -> int:
        return len(self.group_names)


def particle_groups(table: ParticleTable) -> tuple[np.ndarray, list[str]]:
    """Group index (n,) int64 and group names: rlnGroupName, else rlnMicrographName, else one group."""
    for label in ("rlnGroupName", "rlnMicrographName"):
        if label in table.columns:
            names, index = np.unique(np.asarray(table.columns[label]).astype(str), return_inverse=True)
            return index.astype(np.int64), [str(n) for n in names]
    return np.zeros(len(table), dtype=np.int64), ["group_1"]


def load_particles(
    star_path: str | os.PathLike[str],
    project_dir: str | os.PathLike[str] | None = None,
    *,
    use_ctf: bool = True,
) -> ParticleSet:
    """Read a particles STAR file and all its images into memory (relative image names resolve
    against ``project_dir``, default the current directory)."""
    table = read_particle_table(star_path)
    images = read_images(table.columns["rlnImageName"], project_dir=project_dir or ".")
    if images.shape[-1] != images.shape[-2] or images.shape[-1] % 2:
        raise InputError(table.path, f"particle boxes must be square and even, not {images.shape[-1]}x{images.shape[-2]}")
    groups, names = particle_groups(table)
    offsets = np.stack([table.column("rlnOriginXAngst"), table.column("rlnOriginYAngst")], axis=1) / table.pixel_size
    return ParticleSet(
        table=table,
        images=torch.from_numpy(images),
        ctf=read_ctf(table) if use_ctf else None,
        groups=torch.from_numpy(groups),
        group_names=names,
        offsets=torch.from_numpy(offsets),
        ctf_phase_flipped=table.flag("rlnCtfDataArePhaseFlipped"),
        ctf_premultiplied=table.flag("rlnCtfDataAreCtfPremultiplied"),
    )
