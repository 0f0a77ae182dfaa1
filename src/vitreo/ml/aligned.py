"""Particles with known orientations, offsets and CTFs, as read from a particles STAR file."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.io.image_refs import read_images
from vitreo.ml.particles import read_ctf, read_particle_table


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
    table = read_particle_table(star_path)
    pixel_size = table.pixel_size
    images = read_images(table.columns["rlnImageName"], project_dir=project_dir or ".")
    angles = [torch.from_numpy(table.column(label)) for label in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")]
    origins = np.stack([table.column("rlnOriginXAngst"), table.column("rlnOriginYAngst")], axis=1) / pixel_size
    return AlignedParticles(
        images=torch.from_numpy(images).to(device),
        rotations=euler_degrees_to_matrix(*angles).to(device=device, dtype=torch.float32),
        origins=torch.from_numpy(origins).to(device=device, dtype=torch.float32),
        ctf=read_ctf(table, device) if use_ctf else None,
        pixel_size=pixel_size,
        subsets=torch.from_numpy(table.column("rlnRandomSubset").astype(np.int64)).to(device),
        ctf_premultiplied=table.flag("rlnCtfDataAreCtfPremultiplied"),
    )
