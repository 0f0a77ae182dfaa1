"""Particles with known orientations, offsets and CTFs, as read from a particles STAR file."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.io.errors import InputError
from vitreo.io.image_refs import read_images
from vitreo.io.optics import with_optics
from vitreo.io.star import Table, read_star


@dataclass(frozen=True)
class AlignedParticles:
    """A batch of particle images and their alignment.

    ``images`` (n, N, N) float: the particle centre lies at (N//2 − origin) pixels, as RELION's
    rlnOriginX/YAngst say; ``rotations`` (n, 3, 3) RELION matrices A (projection = central slice
    F3(Aᵀ·k)); ``origins`` (n, 2) in pixels, ordered (x, y); ``ctf`` per particle or None;
    ``subsets`` (n,) int, RELION's rlnRandomSubset (1 or 2, 0 when unset).
    """

    images: torch.Tensor
    rotations: torch.Tensor
    origins: torch.Tensor
    ctf: CtfParams | None
    pixel_size: float
    subsets: torch.Tensor
    ctf_premultiplied: bool = False

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def box(self) -> int:
        return self.images.shape[-1]

    def select(self, index: torch.Tensor | slice) -> AlignedParticles:
        """The particles at ``index`` (a slice, integer indices or a boolean mask)."""
        return replace(
            self,
            images=self.images[index],
            rotations=self.rotations[index],
            origins=self.origins[index],
            ctf=None if self.ctf is None else self.ctf[index],
            subsets=self.subsets[index],
        )


def load_aligned_particles(
    star_path: str | os.PathLike[str],
    project_dir: str | os.PathLike[str] | None = None,
    *,
    use_ctf: bool = True,
    device: torch.device | str = "cpu",
) -> AlignedParticles:
    """Read a RELION 3.1+ particles STAR file and its images (relative names resolve against
    ``project_dir``, by default the folder that holds the STAR file's job directory tree: the
    current directory). One optics group's pixel size and box are required for all particles."""
    star_path = Path(star_path)
    blocks = read_star(star_path)
    table = blocks.get("particles")
    if not isinstance(table, Table) or len(table) == 0:
        raise InputError(star_path, "no particles (needs a data_particles loop with rows)")
    try:
        columns = with_optics(table, blocks.get("optics"))
    except InputError as err:
        raise InputError(star_path, err.problem) from None
    for label in ("rlnImageName", "rlnImagePixelSize"):
        if label not in columns:
            raise InputError(star_path, f"missing column {label}")
    pixel_sizes = np.unique(columns["rlnImagePixelSize"])
    if len(pixel_sizes) != 1:
        raise InputError(star_path, f"particles have several pixel sizes {pixel_sizes.tolist()}; rescale first")
    pixel_size = float(pixel_sizes[0])
    n = len(table)

    def column(label: str, default: float = 0.0) -> np.ndarray:
        return np.asarray(columns[label], np.float64) if label in columns else np.full(n, default)

    images = read_images(columns["rlnImageName"], project_dir=project_dir or ".")
    angles = [torch.from_numpy(column(label)) for label in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")]
    origins = np.stack([column("rlnOriginXAngst"), column("rlnOriginYAngst")], axis=1) / pixel_size
    ctf = None
    if use_ctf and "rlnDefocusU" in columns:
        try:
            ctf = CtfParams.from_columns(columns, device=device)
        except ValueError as err:
            raise InputError(star_path, str(err)) from None
    premultiplied = bool(np.any(column("rlnCtfDataAreCtfPremultiplied")))
    return AlignedParticles(
        images=torch.from_numpy(images).to(device),
        rotations=euler_degrees_to_matrix(*angles).to(device=device, dtype=torch.float32),
        origins=torch.from_numpy(origins).to(device=device, dtype=torch.float32),
        ctf=ctf,
        pixel_size=pixel_size,
        subsets=torch.from_numpy(column("rlnRandomSubset").astype(np.int64)).to(device),
        ctf_premultiplied=premultiplied,
    )
