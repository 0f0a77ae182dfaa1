"""Ground-truth maps for post-processing tests and benchmarks, built analytically.

A pseudo-atomic map is a set of point atoms on random voxels inside a sphere, blurred by a known
B-factor: by Wilson statistics its rotationally averaged amplitude is flat beyond the envelope's
low-resolution features, so ln|F| against s² is a line of slope −B/4. Half-maps add independent
Gaussian noise whose power in each shell is the signal's power divided by a chosen SNR(s), so
the expected FSC is SNR/(1 + SNR) exactly (in expectation).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vitreo.em.filters import apply_bfactor
from vitreo.em.fourier import shell_index
from vitreo.em.fsc import shell_sums
from vitreo.em.masks import centred_radius

SnrOfFrequency = Callable[[torch.Tensor], torch.Tensor]  # s in 1/Å (float64) -> SNR


def pseudo_atomic_map(box: int, pixel_size: float, radius_px: float, bfactor: float, fill: float = 0.3,
                      seed: int = 0) -> torch.Tensor:
    """Point atoms on a fraction ``fill`` of the voxels within ``radius_px`` of the centre, blurred by ``bfactor`` Å²."""
    generator = torch.Generator().manual_seed(seed)
    inside = centred_radius((box, box, box), dtype=torch.float64) <= radius_px
    atoms = (torch.rand((box, box, box), generator=generator, dtype=torch.float64) < fill) & inside
    return apply_bfactor(atoms.double(), bfactor, pixel_size).float()


def gaussian_snr(snr_at_zero: float, resolution_at_0143: float) -> SnrOfFrequency:
    """SNR(s) = snr0·exp(−a s²) with a chosen so that SNR/(1+SNR) = 0.143 at ``resolution_at_0143`` Å."""
    crossing = 0.143 / (1 - 0.143)
    a = math.log(snr_at_zero / crossing) * resolution_at_0143**2
    return lambda s: snr_at_zero * torch.exp(-a * s**2)


def coloured_noise(signal: torch.Tensor, pixel_size: float, snr: SnrOfFrequency, generator: torch.Generator,
                   envelope: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian noise whose shell power is the signal's divided by snr(s), optionally × a real-space envelope."""
    shape = tuple(signal.shape)
    n_shells = shape[-1] // 2 + 1
    shells = shell_index(shape).clamp_max(n_shells - 1)
    transform = torch.fft.rfftn(signal.double())
    power = shell_sums(transform.abs().square(), shells, n_shells) / shell_sums(torch.ones_like(shells).double(),
                                                                               shells, n_shells)
    frequency = torch.arange(n_shells, dtype=torch.float64) / (shape[-1] * pixel_size)
    amplitude = torch.sqrt(power / snr(frequency) / signal.numel())[shells]
    white = torch.randn(shape, generator=generator, dtype=torch.float64)
    noise = torch.fft.irfftn(torch.fft.rfftn(white) * amplitude, s=shape)
    return (noise if envelope is None else noise * envelope).float()


def noisy_halves(signal: torch.Tensor, pixel_size: float, snr: SnrOfFrequency, seed: int = 1,
                 envelope: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two half-maps: signal plus independent noise of spectral SNR ``snr`` (see :func:`coloured_noise`)."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(signal + coloured_noise(signal, pixel_size, snr, generator, envelope) for _ in range(2))


def expected_fsc(snr: SnrOfFrequency, box: int, pixel_size: float) -> torch.Tensor:
    """SNR/(1 + SNR) for shells 0 … N//2."""
    value = snr(torch.arange(box // 2 + 1, dtype=torch.float64) / (box * pixel_size))
    return value / (1 + value)


__all__ = ["pseudo_atomic_map", "gaussian_snr", "coloured_noise", "noisy_halves", "expected_fsc"]
