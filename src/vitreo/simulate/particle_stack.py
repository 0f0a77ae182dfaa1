"""Extracted-particle stacks with ground truth: projections at random orientations and offsets,
each with its own CTF, plus white Gaussian noise.

Images are what RELION's Extract writes with contrast inverted: white particles, image =
CTF ⊗ projection + noise, with the CTF positive at low frequency (DESIGN.md). The particle
centre lies at (N//2 − origin) pixels, so rlnOriginX/YAngst re-centre it as RELION does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitreo.em.ctf import CtfParams, ctf_2d
from vitreo.em.fourier import phase_shift
from vitreo.em.geometry import matrix_to_euler, random_rotations
from vitreo.em.projector import Projector
from vitreo.io.image_refs import format_image_names
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, write_star


@dataclass(frozen=True)
class StackSettings:
    """Acquisition and noise settings of a simulated particle stack (units as in STAR files)."""

    n_particles: int = 1000
    defocus_min: float = 8000.0  # Å
    defocus_max: float = 30000.0  # Å
    max_astigmatism: float = 1000.0  # Å, |U − V|
    voltage: float = 300.0  # kV
    cs: float = 2.7  # mm
    amplitude_contrast: float = 0.1
    bfactor: float = 0.0  # Å², CTF envelope
    max_origin: float = 3.0  # pixels, uniform in [−max, max] along x and y
    snr: float = 0.1  # signal variance (over the box) / noise variance; inf for no noise
    batch_size: int = 512

    def __post_init__(self) -> None:
        if self.n_particles < 1:
            raise ValueError("the number of particles must be at least 1")
        if not 0 < self.defocus_min <= self.defocus_max:
            raise ValueError("defocus range must satisfy 0 < min <= max (Å)")
        if self.snr <= 0:
            raise ValueError("the SNR must be positive")


@dataclass(frozen=True)
class SimulatedStack:
    """Images (n, N, N) float32 and the truth per particle (RELION labels, degrees, Å)."""

    images: np.ndarray
    truth: dict[str, np.ndarray]
    pixel_size: float
    noise_std: float


def simulate_particle_stack(
    volume: torch.Tensor, pixel_size: float, settings: StackSettings, generator: torch.Generator
) -> SimulatedStack:
    """Project ``volume`` (N, N, N) at uniformly random orientations with per-particle CTFs."""
    box = volume.shape[-1]
    n = settings.n_particles
    rotations = random_rotations(n, generator=generator, dtype=torch.float32)
    origins = (torch.rand(n, 2, generator=generator) * 2.0 - 1.0) * settings.max_origin
    mean_defocus = settings.defocus_min + torch.rand(n, generator=generator) * (
        settings.defocus_max - settings.defocus_min
    )
    astigmatism = torch.rand(n, generator=generator) * settings.max_astigmatism
    ctf = CtfParams.from_values(
        defocus_u=mean_defocus + astigmatism / 2,
        defocus_v=mean_defocus - astigmatism / 2,
        defocus_angle=torch.rand(n, generator=generator) * 180.0 - 90.0,
        voltage=settings.voltage,
        cs=settings.cs,
        amplitude_contrast=settings.amplitude_contrast,
        bfactor=settings.bfactor,
    )
    projector = Projector(volume.to(torch.float32))
    clean = torch.empty(n, box, box)
    for start in range(0, n, settings.batch_size):
        part = slice(start, start + settings.batch_size)
        slices = projector.project(rotations[part])
        slices = phase_shift(slices, -origins[part], (box, box)) * ctf_2d(ctf[part], box, pixel_size)
        clean[part] = torch.fft.irfft2(slices, s=(box, box))
    noise_std = 0.0
    if np.isfinite(settings.snr):
        noise_std = float(clean.var(dim=(-2, -1)).mean().sqrt()) / settings.snr**0.5
        clean += noise_std * torch.randn(clean.shape, generator=generator)
    rot, tilt, psi = (torch.rad2deg(a).numpy().astype(np.float64) for a in matrix_to_euler(rotations.double()))
    truth = {
        "rlnAngleRot": rot,
        "rlnAngleTilt": tilt,
        "rlnAnglePsi": psi,
        "rlnOriginXAngst": origins[:, 0].double().numpy() * pixel_size,
        "rlnOriginYAngst": origins[:, 1].double().numpy() * pixel_size,
        "rlnDefocusU": ctf.defocus_u.double().numpy(),
        "rlnDefocusV": ctf.defocus_v.double().numpy(),
        "rlnDefocusAngle": ctf.defocus_angle.double().numpy(),
    }
    return SimulatedStack(clean.numpy(), truth, pixel_size, noise_std)


def write_particle_stack(
    stack: SimulatedStack,
    settings: StackSettings,
    project_dir: str | os.PathLike[str],
    stack_name: str = "Particles/particles.mrcs",
    star_name: str = "Particles/particles.star",
    random_subsets: bool = True,
) -> Path:
    """Write the stack and a RELION 3.1+ particles.star (names relative to ``project_dir``)."""
    project_dir = Path(project_dir)
    n, box = stack.images.shape[0], stack.images.shape[-1]
    write_mrc(project_dir / stack_name, stack.images, stack.pixel_size, is_stack=True)
    optics = Table.from_columns(
        {
            "rlnOpticsGroupName": np.array(["opticsGroup1"], dtype=object),
            "rlnOpticsGroup": np.array([1]),
            "rlnVoltage": np.array([settings.voltage]),
            "rlnSphericalAberration": np.array([settings.cs]),
            "rlnAmplitudeContrast": np.array([settings.amplitude_contrast]),
            "rlnImagePixelSize": np.array([stack.pixel_size]),
            "rlnImageSize": np.array([box]),
            "rlnImageDimensionality": np.array([2]),
            "rlnCtfDataAreCtfPremultiplied": np.array([0]),
        }
    )
    columns: dict[str, np.ndarray] = {
        "rlnImageName": format_image_names(np.arange(n), stack_name).astype(object),
        "rlnOpticsGroup": np.ones(n, dtype=np.int64),
        **stack.truth,
    }
    if random_subsets:
        columns["rlnRandomSubset"] = np.arange(n, dtype=np.int64) % 2 + 1
    star_path = project_dir / star_name
    write_star(star_path, {"optics": optics, "particles": Table.from_columns(columns)})
    return star_path
