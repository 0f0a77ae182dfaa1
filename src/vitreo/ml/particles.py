"""Particles for the maximum-likelihood engine: images, CTFs, groups and starting offsets.

Read from a RELION 3.1+ particles STAR file (data_optics + data_particles). Groups (for noise
spectra and intensity scales) are rlnGroupName, else rlnMicrographName, else one group for all.
Offsets are in pixels (x, y), from rlnOriginX/YAngst: the particle centre lies at
(N//2 − offset), as RELION says.

Data handling (RELION's --preread_images, --scratch_dir): images are either pre-read into
memory (a tensor) or streamed from their stacks batch by batch (:class:`StreamedImages`, which
indexes like a tensor); :func:`copy_to_scratch` first copies the stacks to a local scratch folder.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.io.errors import InputError
from vitreo.io.image_refs import format_image_names, parse_image_names, read_images, resolve
from vitreo.io.mrc import open_stack
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


class StreamedImages:
    """Particle images (n, N, N) float32 read from their stacks on demand: ``images[ids]`` reads
    just those particles (memory-mapped stacks), so only one batch is in memory at a time."""

    def __init__(self, names: np.ndarray, project_dir: str | os.PathLike[str] = ".") -> None:
        self.names = np.asarray(names, dtype=str)
        self.project_dir = Path(project_dir)
        indices, paths = parse_image_names(self.names)
        unique, inverse = np.unique(paths, return_inverse=True)
        highest = np.full(len(unique), -1, dtype=np.int64)
        np.maximum.at(highest, inverse, indices)
        box: tuple[int, int] | None = None
        for path, needed in zip(unique, highest):  # one header per stack: missing files and indices fail now
            with open_stack(resolve(str(path), self.project_dir)) as stack:
                if needed >= len(stack):
                    raise InputError(stack.info.path, f"has {len(stack)} images; the particles need more")
                box = box or stack.shape[1:]
        assert box is not None
        self.shape = (len(self.names), *box)
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, ids: torch.Tensor | np.ndarray | slice) -> torch.Tensor:
        rows = np.arange(len(self))[ids] if isinstance(ids, slice) else np.asarray(ids, dtype=np.int64)
        return torch.from_numpy(read_images(self.names[rows], self.project_dir))

    def numel(self) -> int:
        return int(np.prod(self.shape))

    def element_size(self) -> int:
        return 4


Images = torch.Tensor | StreamedImages


def image_bytes(n: int, box: int) -> int:
    """Bytes of ``n`` pre-read float32 images of ``box``² pixels."""
    return 4 * n * box * box


def available_memory() -> int:
    """Bytes of memory available to new allocations (MemAvailable of /proc/meminfo; else all RAM)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def copy_to_scratch(names: np.ndarray, project_dir: str | os.PathLike[str], scratch: str | os.PathLike[str]) -> np.ndarray:
    """Copy every stack that ``names`` use into the folder ``scratch`` (created) and return the
    image names pointing there (same indices). Stacks are numbered, so equal file names in
    different folders do not collide."""
    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    indices, paths = parse_image_names(names)
    unique, inverse = np.unique(paths, return_inverse=True)
    copies = []
    for number, path in enumerate(unique):
        source = resolve(str(path), project_dir)
        if not source.is_file():
            raise InputError(source, "no such image stack (needed for the copy to the scratch directory)")
        target = scratch / f"{number:06d}_{source.name}"
        shutil.copyfile(source, target)
        copies.append(str(target.resolve()))
    return format_image_names(indices, np.asarray(copies, dtype=str)[inverse])


@dataclass(frozen=True)
class ParticleSet:
    """Everything the ML engine reads per particle.

    ``images`` (n, N, N) float32, pre-read (a tensor) or :class:`StreamedImages`; ``groups`` (n,) int64 into ``group_names``; ``offsets`` (n, 2)
    float64 pixels (x, y); ``ctf`` None for no CTF correction; ``ctf_phase_flipped`` and
    ``ctf_premultiplied`` as rlnCtfDataArePhaseFlipped / rlnCtfDataAreCtfPremultiplied.
    """

    table: ParticleTable
    images: Images
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

    def input_angles(self, purpose: str) -> torch.Tensor:
        """The orientations of the input file (n, 3) radians (rot, tilt, psi); InputError naming
        the ``purpose`` that needs them when the file has none."""
        labels = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
        missing = [label for label in labels if label not in self.table.columns]
        if missing:
            raise InputError(self.table.path, f"{purpose} need the input orientations; missing {missing[0]}")
        return torch.deg2rad(torch.from_numpy(np.stack([self.table.column(label) for label in labels], 1)))

    @property
    def resident_bytes(self) -> int:
        """Bytes the images hold in memory (0 when streamed)."""
        return 0 if isinstance(self.images, StreamedImages) else self.images.numel() * self.images.element_size()


def particle_groups(table: ParticleTable) -> tuple[np.ndarray, list[str]]:
    """Group index (n,) int64 and group names: rlnGroupName, else rlnMicrographName, else one group."""
    for label in ("rlnGroupName", "rlnMicrographName"):
        if label in table.columns:
            names, index = np.unique(np.asarray(table.columns[label]).astype(str), return_inverse=True)
            return index.astype(np.int64), [str(n) for n in names]
    return np.zeros(len(table), dtype=np.int64), ["group_1"]


def load_particles(
    star_path: str | os.PathLike[str] | ParticleTable,
    project_dir: str | os.PathLike[str] | None = None,
    *,
    use_ctf: bool = True,
    preread: bool = True,
    image_names: np.ndarray | None = None,
) -> ParticleSet:
    """Read a particles STAR file and, with ``preread``, all its images into memory; otherwise the
    images are streamed. Relative image names resolve against ``project_dir`` (default: the
    current directory); ``image_names`` (n,) replace the file's names for reading only (a
    scratch copy), the table keeps the originals. ``star_path`` may also be a table already read."""
    table = star_path if isinstance(star_path, ParticleTable) else read_particle_table(star_path)
    names = table.columns["rlnImageName"] if image_names is None else image_names
    images: Images
    if preread:
        images = torch.from_numpy(read_images(names, project_dir=project_dir or "."))
    else:
        images = StreamedImages(names, project_dir or ".")
    if images.shape[-1] != images.shape[-2] or images.shape[-1] % 2:
        raise InputError(table.path, f"particle boxes must be square and even, not {images.shape[-1]}x{images.shape[-2]}")
    groups, names = particle_groups(table)
    offsets = np.stack([table.column("rlnOriginXAngst"), table.column("rlnOriginYAngst")], axis=1) / table.pixel_size
    return ParticleSet(
        table=table,
        images=images,
        ctf=read_ctf(table) if use_ctf else None,
        groups=torch.from_numpy(groups),
        group_names=names,
        offsets=torch.from_numpy(offsets),
        ctf_phase_flipped=table.flag("rlnCtfDataArePhaseFlipped"),
        ctf_premultiplied=table.flag("rlnCtfDataAreCtfPremultiplied"),
    )
