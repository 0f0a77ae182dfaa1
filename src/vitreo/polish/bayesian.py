"""RELION 3-style Bayesian polishing: per-particle motion tracks with priors on their smoothness
and spatial correlation, fitted by L-BFGS to per-frame likelihood maps.

Per micrograph, the displacement of particle p in frame group g is t_pg = c_p + Σ_{g'<g} v_pg'.
The velocities of all particles in one step, v_g (P, 2), are drawn from a Gaussian process over
the micrograph, cov(v_ig, v_jg) = σ_v² · exp(−d_ij / σ_div) (d the distance between particles),
parametrised as v_g = L·u_g with L Lᵀ the covariance and u_g standard normal; accelerations
v_{g+1} − v_g have a Gaussian prior of stddev σ_a. σ_v and σ_a are given in Å per e/Å² of dose
(RELION's sigma_vel, sigma_acc) and σ_div in Å (sigma_div). The data term is the log-likelihood
of :mod:`vitreo.polish.likelihood` of each frame group alone, with the reference attenuated by
the group's radiation damage (Grant & Grigorieff, :func:`vitreo.em.dose.frame_damage`), read at
sub-pixel displacements by bicubic interpolation of a window of the map around the prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.em.dose import frame_damage
from vitreo.em.fourier import phase_shift, rfft_radius
from vitreo.polish.likelihood import noise_weights
from vitreo.polish.references import References

#: Half-width (px) of the likelihood window kept around each particle's prior displacement.
WINDOW = 10


@dataclass(frozen=True)
class MotionPriors:
    """RELION 3's sigma_vel (Å/dose), sigma_div (Å), sigma_acc (Å/dose; ≤ 0: none)."""

    sigma_vel: float = 0.2
    sigma_div: float = 5000.0
    sigma_acc: float = 2.0


def group_damage(box: int, pixel_size: float, exposures: np.ndarray, voltage: float) -> torch.Tensor:
    """Damage attenuation (G, N, N//2+1) of each frame group exposed from ``exposures[g, 0]`` to
    ``exposures[g, 1]`` e/Å²."""
    k = rfft_radius((box, box)) / pixel_size
    return torch.stack([frame_damage(k, float(a), float(b), voltage) for a, b in exposures]).to(torch.float32)


def windowed_likelihood(frames: torch.Tensor, references: torch.Tensor, prior_t: torch.Tensor,
                        damage: torch.Tensor, max_shell: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group log-likelihood maps (P, G, 2W+1, 2W+1) over displacements round(prior) + (−W..W)
    and those window centres (P, 2)."""
    box = frames.shape[-1]
    data = torch.fft.rfft2(frames.to(torch.float32))
    centres = torch.round(prior_t)
    data = phase_shift(data, -centres[:, None], (box, box))  # particle now near the box centre
    weights = noise_weights(data, references, prior_t - centres, max_shell)
    product = data * (references.conj()[:, None] * (weights * damage)[None])
    maps = torch.fft.irfft2(product, s=(box, box)) * float(box * box)
    maps = torch.fft.fftshift(maps, dim=(-2, -1))
    middle = box // 2
    window = maps[..., middle - WINDOW: middle + WINDOW + 1, middle - WINDOW: middle + WINDOW + 1]
    return window.clone(), centres  # a copy: a view would keep the whole maps alive


def common_track(maps: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """A start for every particle (P, G, 2) px: the micrograph's common displacement in each frame
    group, the peak of the likelihood windows (P, G, 2W+1, 2W+1) summed over particles (each
    window centred at its particle's ``centres`` (P, 2)). Unlike one particle's map, the sum has
    one clear peak, so the fit starts near the true track even after fast early drift."""
    total = maps.sum(0)  # (G, 2W+1, 2W+1)
    side = total.shape[-1]
    best = total.reshape(total.shape[0], -1).argmax(-1)
    shift = torch.stack([best % side, best // side], dim=-1).to(centres.dtype) - WINDOW  # (G, 2) as (x, y)
    return centres[:, None] + shift[None]


def fit_tracks(maps: torch.Tensor, centres: torch.Tensor, positions: np.ndarray, dose_per_group: float,
               pixel_size: float, priors: MotionPriors, initial: torch.Tensor | None = None,
               iterations: int = 100) -> torch.Tensor:
    """Displacements (P, G, 2) px maximising the likelihood maps (P, G, 2W+1, 2W+1) (windows
    centred at ``centres`` (P, 2)) under the motion priors, starting from ``initial`` (P, G, 2)
    displacements (default: at rest at the window centres); ``positions`` (P, 2) in px."""
    n, groups = maps.shape[:2]
    distance = np.sqrt(((positions[:, None] - positions[None]) ** 2).sum(-1)) * pixel_size
    sigma_v = max(priors.sigma_vel * dose_per_group / pixel_size, 1e-4)
    covariance = sigma_v**2 * np.exp(-distance / max(priors.sigma_div, 1e-6)) + 1e-6 * sigma_v**2 * np.eye(n)
    chol = torch.from_numpy(np.linalg.cholesky(covariance)).to(torch.float32)
    sigma_a = priors.sigma_acc * dose_per_group / pixel_size
    scale = float(maps.amax(dim=(-2, -1)).abs().mean().clamp_min(1e-6))
    images = (maps / scale).reshape(n * groups, 1, *maps.shape[-2:])
    offset = torch.zeros((n, 2))
    steps = torch.zeros((groups - 1, n, 2))
    if initial is not None:
        start = initial.to(torch.float32) - centres[:, None]
        offset = start[:, 0].clone()
        velocities = (start[:, 1:] - start[:, :-1]).permute(1, 0, 2).contiguous()
        steps = torch.linalg.solve_triangular(chol, velocities, upper=False).contiguous()
    offset.requires_grad_(True)
    steps.requires_grad_(True)
    optimiser = torch.optim.LBFGS([offset, steps], max_iter=iterations, line_search_fn="strong_wolfe")

    def tracks() -> torch.Tensor:
        velocities = chol @ steps  # (G-1, P, 2)
        path = torch.cat([torch.zeros((1, n, 2)), velocities.cumsum(0)], dim=0).permute(1, 0, 2)
        return offset[:, None] + path  # relative to the window centres

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        relative = tracks()
        grid = (relative / WINDOW).reshape(n * groups, 1, 1, 2)
        values = torch.nn.functional.grid_sample(images, grid, mode="bicubic", align_corners=True)
        total = -values.sum() + 0.5 * steps.square().sum() * (1.0 / scale)
        if sigma_a > 0 and groups > 2:
            velocities = chol @ steps
            total = total + (velocities[1:] - velocities[:-1]).square().sum() / (2.0 * sigma_a**2 * scale)
        total.backward()
        return total

    optimiser.step(loss)
    with torch.no_grad():
        return tracks().clamp(-WINDOW, WINDOW) + centres[:, None]


__all__ = ["MotionPriors", "group_damage", "windowed_likelihood", "common_track", "fit_tracks", "WINDOW"]


def micrograph_tracks(stack: str, stack_index: np.ndarray, n_groups: int, references: References,
                      rotations: torch.Tensor, subsets: np.ndarray, ctf: CtfParams | None, priors_px: np.ndarray,
                      positions: np.ndarray, damage: torch.Tensor, dose_per_group: float, pixel_size: float,
                      motion_priors: MotionPriors, initial: np.ndarray | None = None, chunk: int = 64) -> np.ndarray:
    """Offsets (P, G, 2) px (RELION's sense: centre at N//2 − o) of one micrograph's particles, read
    from ``stack`` in chunks and compared with their CTF-multiplied projections (rotations (P, 3, 3),
    subsets and CTFs); ``priors_px`` (P, 2) the averaged particles' offsets, ``initial`` (P, G, 2)
    offsets to start from (default: the common track of :func:`common_track`)."""
    from vitreo.polish.movie_particles import read_movie_particles

    maps, centres = [], []
    for start in range(0, len(stack_index), chunk):
        part = slice(start, start + chunk)
        frames = read_movie_particles(stack, stack_index[part], n_groups)
        spectra = references.spectra(rotations[part], subsets[part], None if ctf is None else ctf[part])
        prior_t = -torch.from_numpy(priors_px[part]).to(torch.float32)
        window, centre = windowed_likelihood(frames, spectra, prior_t, damage)
        maps.append(window)
        centres.append(centre)
    maps_t, centres_t = torch.cat(maps), torch.cat(centres)
    start_t = common_track(maps_t, centres_t) if initial is None else -torch.from_numpy(initial)
    t = fit_tracks(maps_t, centres_t, positions, dose_per_group, pixel_size, motion_priors, start_t)
    return -t.double().numpy()


__all__ += ["micrograph_tracks"]
