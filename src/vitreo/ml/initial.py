"""Starting values of the noise model from the particle images alone.

As RELION does without a reference: σ²(group, shell) = (⟨|X|²⟩_group − |X̄|²)/2, the spread of
the images about their average X̄ (which, for randomly oriented particles, is a round blob).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vitreo.ml.batch import ImageOptions, prepare_batch
from vitreo.ml.model import MlModel
from vitreo.ml.particles import ParticleSet
from vitreo.ml.pixels import FourierPixels


@dataclass(frozen=True)
class ImageStatistics:
    """Statistics of prepared images: noise ``sigma2`` (G, N//2+1) per group and shell, the
    average image (N, N) in real space, and particles per group (G,)."""

    sigma2: torch.Tensor
    average: torch.Tensor
    group_counts: torch.Tensor


def image_statistics(
    particles: ParticleSet,
    offsets: torch.Tensor,
    options: ImageOptions,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> ImageStatistics:
    """Noise spectra and average of the masked, centred particle images (see module docstring)."""
    box, n_groups = particles.box, particles.n_groups
    n_shells = box // 2 + 1
    pixels = FourierPixels.for_size(box, box, device)
    unit = MlModel(
        references=torch.zeros(1, box, box),
        class_distribution=torch.ones(1),
        sigma2_noise=torch.ones(n_groups, n_shells),
        scale=torch.ones(n_groups),
        tau2=torch.ones(1, n_shells),
        ssnr=torch.zeros(1, n_shells),
        completeness=torch.zeros(1, n_shells),
        pixel_size=particles.pixel_size,
        tau2_fudge=1.0,
        sigma_offset=1.0,
        current_size=box,
        current_resolution=float("inf"),
    )
    power = torch.zeros(n_groups, len(pixels), dtype=torch.float64, device=device)
    total = torch.zeros(len(pixels), dtype=torch.complex128, device=device)
    counts = torch.zeros(n_groups, dtype=torch.float64, device=device)
    ones = torch.ones(len(particles), dtype=torch.float64)
    for start in range(0, len(particles), batch_size):
        ids = torch.arange(start, min(start + batch_size, len(particles)))
        batch = prepare_batch(particles, ids, offsets[ids], ones[ids], unit, pixels, options, generator)
        power.index_add_(0, batch.group, (batch.data.real.square() + batch.data.imag.square()).double())
        total += batch.data.sum(0).to(torch.complex128)
        counts.index_add_(0, batch.group, torch.ones(len(ids), dtype=torch.float64, device=device))
    n = float(len(particles))
    mean = total / n
    mean_power = mean.real.square() + mean.imag.square()
    shell_counts = pixels.shell_counts().double().clamp_min(1.0)
    group_power = pixels.shell_sums(power / counts.clamp_min(1.0)[:, None]) / shell_counts
    average_power = pixels.shell_sums(mean_power) / shell_counts
    sigma2 = _extend(0.5 * (group_power - average_power).clamp_min(0.0), n_shells)
    floor = sigma2[sigma2 > 0].min() if bool((sigma2 > 0).any()) else torch.tensor(1.0, dtype=torch.float64)
    average = torch.fft.irfft2(pixels.scatter(mean.to(torch.complex64), box), s=(box, box))
    return ImageStatistics(sigma2.clamp_min(floor).float().cpu(), average.cpu(), counts.cpu())


def _extend(values: torch.Tensor, n_shells: int) -> torch.Tensor:
    """Pad per-shell values (..., S) to (..., n_shells) by repeating the last shell (the Nyquist corners)."""
    missing = n_shells - values.shape[-1]
    if missing <= 0:
        return values
    return torch.cat([values, values[..., -1:].expand(*values.shape[:-1], missing)], dim=-1)
