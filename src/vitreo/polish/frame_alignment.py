"""MovieRefine's per-frame refinement: the translation (and optionally small rotations) of each
particle in each frame group, from running averages of its frames against its reference projection,
with a Gaussian prior on the offsets around the averaged particle's (RELION's movie_sigma_offset)
and on the angles around its refined orientation (movie_sigma_angles).

All particles × frames × shifts (on a half-pixel grid) of a batch are scored at once by FFT
(:mod:`vitreo.polish.likelihood`); the maximum a posteriori shift is refined further by a
parabola through its neighbours. Rotational searches try the 27 orientations rot/tilt/psi ± step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.polish.likelihood import likelihood_maps, map_peaks, noise_weights, running_average, shift_grid
from vitreo.polish.references import References


#: Likelihood maps are computed on a grid of 1/UPSAMPLE px (a parabola through whitened, sharp
#: peaks is biased by up to 0.2 px on the integer grid).
UPSAMPLE = 2


@dataclass(frozen=True)
class AlignmentSettings:
    """``window``: frames in the running average; ``sigma_offset``: prior stddev of the offsets
    (px, around the averaged particle's); ``sigma_angles``: prior stddev (degrees) of rotational
    searches, 0 for none; ``max_shell``: highest Fourier shell used (None: Nyquist)."""

    window: int = 5
    sigma_offset: float = 1.0
    sigma_angles: float = 0.0
    max_shell: int | None = None


@dataclass(frozen=True)
class FrameAlignment:
    """Per particle and frame group: offsets (P, G, 2) px (x, y) and Euler angles (P, G, 3) degrees."""

    offsets: torch.Tensor
    angles: torch.Tensor


def angle_steps(sigma: float) -> torch.Tensor:
    """The 27 (rot, tilt, psi) perturbations in {−σ, 0, +σ}³ degrees, the unperturbed first."""
    steps = torch.tensor([0.0, -sigma, sigma])
    grid = torch.cartesian_prod(steps, steps, steps)
    return grid


def align_frames(frames: torch.Tensor, angles: torch.Tensor, origins: torch.Tensor, subsets: np.ndarray,
                 ctf: CtfParams | None, references: References, settings: AlignmentSettings) -> FrameAlignment:
    """Refine frames (P, G, N, N) of particles with refined angles (P, 3) degrees and origins (P, 2)
    px, their random subsets (P,) and CTFs."""
    n, groups, box = frames.shape[0], frames.shape[1], frames.shape[-1]
    data = running_average(torch.fft.rfft2(frames.to(torch.float32)), settings.window)
    steps = angle_steps(settings.sigma_angles) if settings.sigma_angles > 0 else torch.zeros((1, 3))
    prior_t = -origins.to(torch.float32)
    grid = shift_grid(box, UPSAMPLE)
    prior = -((grid[None] - prior_t[:, None, None]).square().sum(-1)) / (2.0 * max(settings.sigma_offset, 1e-3) ** 2)
    best_score = torch.full((n, groups), -torch.inf)
    best_t = torch.zeros((n, groups, 2))
    best_angles = angles[:, None].expand(n, groups, 3).clone().to(torch.float32)
    weights = None
    for step in steps:
        trial = angles.to(torch.float32) + step
        rotations = euler_degrees_to_matrix(trial[:, 0], trial[:, 1], trial[:, 2]).to(torch.float32)
        refs = references.spectra(rotations, subsets, ctf)
        if weights is None:
            weights = noise_weights(data, refs, prior_t, settings.max_shell)
        scores = likelihood_maps(data, refs, weights, UPSAMPLE) + prior[:, None]
        if settings.sigma_angles > 0:
            scores = scores - float(step.square().sum()) / (2.0 * settings.sigma_angles**2)
        t, score = map_peaks(scores)
        t = t / UPSAMPLE
        better = score > best_score
        best_score = torch.where(better, score, best_score)
        best_t = torch.where(better[..., None], t, best_t)
        best_angles = torch.where(better[..., None], trial[:, None].expand(n, groups, 3), best_angles)
    return FrameAlignment(-best_t, best_angles)


__all__ = ["AlignmentSettings", "FrameAlignment", "align_frames", "angle_steps"]
