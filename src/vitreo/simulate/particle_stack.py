"""Extracted-particle stacks with ground truth: projections at random orientations and offsets,
each with its own CTF, plus white Gaussian noise; junk (blobs, streaks, broken particles) drawn
with the shapes of :mod:`vitreo.simulate.junk`.

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
from vitreo.simulate.junk import box_coordinates, cut_away, gaussian_cluster

JUNK_KINDS = ("blob", "streak", "fragment")
#: truth columns written into the STAR file only on request (the rest describe acquisition)
TRUTH_LABELS = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginXAngst", "rlnOriginYAngst", "rlnVitreoIsJunk")

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
    junk_fraction: float = 0.0  # fraction of the images that are junk
    junk_kinds: tuple[str, ...] = JUNK_KINDS
    n_micrographs: int = 1  # particles are spread over this many rlnMicrographName (in order); 1: no column

    def __post_init__(self) -> None:
        if self.n_particles < 1:
            raise ValueError("the number of particles must be at least 1")
        if not 0 < self.defocus_min <= self.defocus_max:
            raise ValueError("defocus range must satisfy 0 < min <= max (Å)")
        if self.snr <= 0:
            raise ValueError("the SNR must be positive")
        if not 0 <= self.junk_fraction <= 1:
            raise ValueError("the junk fraction must lie in [0, 1]")
        unknown = set(self.junk_kinds) - set(JUNK_KINDS)
        if unknown or not self.junk_kinds:
            raise ValueError(f"junk kinds must be among {', '.join(JUNK_KINDS)}")
        if self.n_micrographs < 1:
            raise ValueError("the number of micrographs must be at least 1")


@dataclass(frozen=True)
class SimulatedStack:
    """Images (n, N, N) float32 and the truth per particle (RELION labels, degrees, Å)."""

    images: np.ndarray
    truth: dict[str, np.ndarray]
    pixel_size: float
    noise_std: float


def simulate_particle_stack(
    volume: torch.Tensor,
    pixel_size: float,
    settings: StackSettings,
    generator: torch.Generator,
    rotations: torch.Tensor | None = None,
) -> SimulatedStack:
    """Project ``volume`` (N, N, N) at uniformly random orientations (or the given ``rotations``
    (n, 3, 3)) with per-particle CTFs; ``settings.junk_fraction`` of the images are junk."""
    box = volume.shape[-1]
    n = settings.n_particles
    if rotations is None:
        rotations = random_rotations(n, generator=generator, dtype=torch.float32)
    elif rotations.shape != (n, 3, 3):
        raise ValueError(f"expected rotations ({n}, 3, 3), got {tuple(rotations.shape)}")
    rotations = rotations.to(torch.float32)
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
    is_junk = torch.zeros(n, dtype=torch.bool)
    if settings.junk_fraction > 0:
        is_junk[torch.randperm(n, generator=generator)[: round(settings.junk_fraction * n)]] = True
    junk_ids = torch.nonzero(is_junk).squeeze(-1)
    junk = _render_junk(projector, len(junk_ids), settings.junk_kinds, generator) if len(junk_ids) else None
    clean = torch.empty(n, box, box)
    for start in range(0, n, settings.batch_size):
        part = slice(start, start + settings.batch_size)
        slices = projector.project(rotations[part])
        if junk is not None:
            chosen = is_junk[part]
            slices[chosen] = junk[torch.searchsorted(junk_ids, torch.nonzero(chosen).squeeze(-1) + start)]
        slices = phase_shift(slices, -origins[part], (box, box)) * ctf_2d(ctf[part], box, pixel_size)
        clean[part] = torch.fft.irfft2(slices, s=(box, box))
    noise_std = 0.0
    if np.isfinite(settings.snr):
        good = clean[~is_junk] if bool((~is_junk).any()) else clean
        noise_std = float(good.var(dim=(-2, -1)).mean().sqrt()) / settings.snr**0.5
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
    if settings.junk_fraction > 0:
        truth["rlnVitreoIsJunk"] = is_junk.numpy().astype(np.int64)
    return SimulatedStack(clean.numpy(), truth, pixel_size, noise_std)


def _render_junk(
    projector: Projector, m: int, kinds: tuple[str, ...], generator: torch.Generator
) -> torch.Tensor:
    """rfft (m, N, N//2+1) of junk images centred at N//2, each with the integrated density of
    0.5–1.5 particles (the projection's DC term)."""
    box = projector.size
    x, y = box_coordinates(box)
    kind = torch.randint(0, len(kinds), (m,), generator=generator)
    images = torch.zeros(m, box, box)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    for index, name in enumerate(kinds):
        chosen = torch.nonzero(kind == index).squeeze(-1)
        k = len(chosen)
        if k == 0:
            continue
        if name == "blob":
            centres = torch.randn(k, 8, 2, generator=generator) * 0.12 * box
            sigma = uniform(0.03, 0.08, k, 8) * box
            present = (torch.arange(8) < torch.randint(3, 9, (k, 1), generator=generator)).float()
            images[chosen] = gaussian_cluster(box, centres, sigma, present)
        elif name == "streak":
            angle = uniform(0.0, np.pi, k)[:, None, None]
            shift = uniform(-0.25, 0.25, k)[:, None, None] * box
            half_length = uniform(0.25, 0.6, k)[:, None, None] * box
            width = uniform(1.0, 2.5, k)[:, None, None]
            across = -x * torch.sin(angle) + y * torch.cos(angle) - shift
            along = x * torch.cos(angle) + y * torch.sin(angle)
            images[chosen] = torch.exp(-(across**2) / (2 * width**2)) * torch.sigmoid(half_length - along.abs())
        else:
            rotations = random_rotations(k, generator=generator, dtype=torch.float32)
            projections = torch.fft.irfft2(projector.project(rotations), s=(box, box))
            angle = uniform(0.0, 2 * np.pi, k)
            images[chosen] = cut_away(projections, angle, uniform(-0.3, 0.1, k) * box / 4)
    particle_mass = projector.project(torch.eye(3)[None])[0, 0, 0].real
    mass = images.sum(dim=(-2, -1)).clamp_min(1e-12)
    images *= (particle_mass * uniform(0.5, 1.5, m) / mass)[:, None, None]
    return torch.fft.rfft2(images)


def write_particle_stack(
    stack: SimulatedStack,
    settings: StackSettings,
    project_dir: str | os.PathLike[str],
    stack_name: str = "Particles/particles.mrcs",
    star_name: str = "Particles/particles.star",
    random_subsets: bool = True,
    truth_columns: bool = True,
) -> Path:
    """Write the stack and a RELION 3.1+ particles.star (names relative to ``project_dir``).

    With ``truth_columns`` the true angles, origins and junk flags are written as columns (as
    aligned particles); without, only what extraction would give (image names, CTF, micrograph).
    """
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
    }
    if settings.n_micrographs > 1:
        micrograph = np.arange(n) * settings.n_micrographs // n + 1
        columns["rlnMicrographName"] = np.array([f"Micrographs/mic{i:03d}.mrc" for i in micrograph], dtype=object)
    columns.update({k: v for k, v in stack.truth.items() if truth_columns or k not in TRUTH_LABELS})
    if random_subsets:
        columns["rlnRandomSubset"] = np.arange(n, dtype=np.int64) % 2 + 1
    star_path = project_dir / star_name
    write_star(star_path, {"optics": optics, "particles": Table.from_columns(columns)})
    return star_path
