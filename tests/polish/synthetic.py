"""Small synthetic data for the polishing unit tests: a smooth random volume, its projections and
frames of particles displaced by known amounts."""

from __future__ import annotations

import numpy as np
import torch

from vitreo.em.fourier import phase_shift
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.polish.references import References
from vitreo.em.projector import Projector

BOX = 32


def smooth_volume(seed: int = 0, box: int = BOX) -> torch.Tensor:
    """A blobby random density (box³) inside a sphere."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((1, 1, box, box, box), generator=generator)
    volume = torch.nn.functional.avg_pool3d(noise, 5, 1, 2)[0, 0]
    k = torch.arange(box) - box // 2
    radius = torch.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    return (volume * (radius < box * 0.35)).to(torch.float32)


def random_angles(n: int, seed: int = 0) -> torch.Tensor:
    """Euler angles (n, 3) degrees."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.stack([rng.uniform(-180, 180, n), rng.uniform(0, 180, n),
                                      rng.uniform(-180, 180, n)], axis=1))


def references_for(volume: torch.Tensor) -> References:
    return References({0: Projector(volume)}, volume.shape[-1], 1.0)


def displaced_frames(references: References, angles: torch.Tensor, offsets: torch.Tensor, noise: float,
                     seed: int = 0) -> torch.Tensor:
    """Frames (P, G, N, N): projections with centres at N//2 − offsets (P, G, 2), plus Gaussian noise."""
    box = references.box
    rotations = euler_degrees_to_matrix(*(angles[:, i].to(torch.float32) for i in range(3)))
    spectra = references.spectra(rotations, np.zeros(len(angles), np.int64), None)
    frames = torch.fft.irfft2(phase_shift(spectra[:, None], -offsets.to(torch.float32), (box, box)), s=(box, box))
    generator = torch.Generator().manual_seed(seed)
    return frames + noise * frames.std() * torch.randn(frames.shape, generator=generator)
