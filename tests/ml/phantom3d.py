"""Tiny analytic 3D phantoms and simulated particle stacks for the 3D classification and
refinement tests: Gaussian blobs at asymmetric positions (no symmetry but C1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitreo.io.mrc import write_mrc
from vitreo.simulate.particle_stack import SimulatedStack, StackSettings, simulate_particle_stack, write_particle_stack

N_BLOBS = 16
DOMAIN = (0, 1, 2)  # the blobs of the "domain" the second state lacks


def blob_centres(seed: int = 3) -> torch.Tensor:
    """Centres (N_BLOBS, 3) (x, y, z) in pixels, uniform in a ball of radius 6.5 px; the first
    three lie next to each other (a domain)."""
    generator = torch.Generator().manual_seed(seed)
    points = (torch.rand(4 * N_BLOBS, 3, generator=generator, dtype=torch.float64) * 2 - 1) * 6.5
    points = points[points.norm(dim=1) <= 6.5][:N_BLOBS]
    order = torch.argsort((points - points[0]).norm(dim=1))
    return points[order]


def blob_phantom(box: int, sigma_px: float = 1.5, drop: tuple[int, ...] = ()) -> torch.Tensor:
    """A (box, box, box) map of Gaussian blobs (those in ``drop`` left out), weights 0.5 to 1."""
    axis = torch.arange(box, dtype=torch.float64) - box // 2
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    volume = torch.zeros(box, box, box, dtype=torch.float64)
    weights = torch.linspace(1.0, 0.5, N_BLOBS, dtype=torch.float64)
    for index, (cx, cy, cz) in enumerate(blob_centres().tolist()):
        if index in drop:
            continue
        volume += weights[index] * torch.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * sigma_px**2))
    return volume.float()


def simulate(
    volume: torch.Tensor, pixel: float, n: int, snr: float, seed: int, project: Path, name: str = "particles",
    max_origin: float = 1.5, random_subsets: bool = True,
) -> tuple[SimulatedStack, Path]:
    """A particle stack of ``volume`` with CTFs (defocus 1–2.5 µm) and its STAR file under ``project``."""
    settings = StackSettings(n_particles=n, snr=snr, max_origin=max_origin, defocus_min=10000.0, defocus_max=25000.0)
    stack = simulate_particle_stack(volume, pixel, settings, torch.Generator().manual_seed(seed))
    star = write_particle_stack(
        stack, settings, project, stack_name=f"Particles/{name}.mrcs", star_name=f"Particles/{name}.star",
        random_subsets=random_subsets, truth_columns=False,
    )
    return stack, star


def write_map(path: Path, volume: torch.Tensor, pixel: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mrc(path, volume.numpy().astype(np.float32), pixel)
    return path
