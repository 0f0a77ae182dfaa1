"""Exhaustive CTF searches, CTFFIND4's way: first the mean defocus (and phase shift) on the
rotational average, then the astigmatism on the 2D spectrum.

1D: the rotational average's smooth background (the background basis of ``ctf_background``,
fitted once by weighted least squares) is subtracted and the rest divided by its local RMS,
so that every ring counts alike whatever the envelope, as CTFFIND does; every defocus from
``min`` to ``max`` in ``step`` (× every phase shift when asked) is scored by the normalised
cross-correlation of that ring contrast with CTF²; the few best local optima are refined on
a 10× finer grid and the best of them goes on to 2D. Hypotheses with fewer than
``MIN_ZEROS`` CTF zeros inside the fit band are not considered (when others are): their
smooth CTF² can be mistaken for background. (Fitting a background and an envelope to each
hypothesis instead let a flexible envelope fade out the rings a wrong defocus misses: with
three rings in the band, simulated micrographs fitted defoci 30% off.)

2D: with that background and envelope fixed, every half-astigmatism A (0 … ``max``) and axis
angle θ (0 … 180°) around the mean defocus is scored by the weighted normalised
cross-correlation of the background-subtracted spectrum with E·CTF² over the fit band,
minus CTFFIND's astigmatism restraint (U − V)² / (2 · dAst² · n_pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from vitreo.preprocess.ctf_background import RadialBasis, gaussian_smooth
from vitreo.em.ctf import ctf_phase
from vitreo.preprocess.ctf_model import CtfFitParams, Optics, ctf_squared, hypotheses

FINE_FACTOR = 10  # the 1D refinement grid is this much finer than the search step
HYPOTHESIS_CHUNK = 256  # 2D hypotheses scored at once (bounds memory: chunk × pixels)
MIN_ZEROS = 2  # CTF zeros a hypothesis must place inside the fit band
REFINED_MINIMA = 3  # deepest coarse 1D minima refined on the fine grid (the grid can miss the true one's depth)
LOCAL_RMS_WIDTH = 1.0 / 12  # Gaussian width of the ring contrast's local RMS, as a fraction of the band


@dataclass(frozen=True)
class BandSamples:
    """The fit band's 2D samples, each (n,) float64: amplitude, background, envelope, weight
    (1/background²), and the CTF phase as an affine function of the parameters,

        χ = chi0 + gain · (D̄ + a_c · cos 2α + a_s · sin 2α) + φ,

    with D̄ the mean defocus, (a_c, a_s) = ((U − V)/2)·(cos 2θ, sin 2θ), φ the phase shift (rad):
    chi0 and gain are taken from ``em.ctf`` (see :func:`band_samples`)."""

    values: torch.Tensor
    background: torch.Tensor
    envelope: torch.Tensor
    weight: torch.Tensor
    chi0: torch.Tensor
    gain: torch.Tensor
    cos2: torch.Tensor
    sin2: torch.Tensor

    def every(self, step: int) -> BandSamples:
        """Every ``step``-th sample (a cheaper, statistically equivalent subset for coarse searches)."""
        return BandSamples(*(getattr(self, f.name)[::step] for f in fields(self)))

    def ctf_squared(self, mean: torch.Tensor, a_cos: torch.Tensor, a_sin: torch.Tensor,
                    phase: torch.Tensor) -> torch.Tensor:
        """sin²χ (H, n) for hypotheses given as (H,) tensors (defocus in Å, phase in radians)."""
        defocus = mean[:, None] + a_cos[:, None] * self.cos2 + a_sin[:, None] * self.sin2
        return torch.sin(self.chi0 + self.gain * defocus + phase[:, None]).square()


def band_samples(values: torch.Tensor, s2: torch.Tensor, azimuth: torch.Tensor, background: torch.Tensor,
                 envelope: torch.Tensor, optics: Optics) -> BandSamples:
    """BandSamples for pixels with amplitudes ``values``, s² (1/Å²) and azimuths (rad), each (n,)."""
    zero = torch.zeros(2, dtype=torch.float64, device=values.device)
    params = hypotheses(optics, torch.tensor([0.0, 1.0], dtype=torch.float64, device=values.device), zero + torch.tensor(
        [0.0, 1.0], dtype=torch.float64, device=values.device), zero, zero)
    chi = ctf_phase(params, s2, params.defocus_u[:, None].expand(-1, s2.shape[0]))  # χ at defocus 0 and 1 Å
    return BandSamples(values, background, envelope, 1.0 / background.square().clamp_min(1e-300), chi[0],
                       chi[1] - chi[0], torch.cos(2.0 * azimuth), torch.sin(2.0 * azimuth))


def search_mean_defocus(profile: torch.Tensor, radius: torch.Tensor, s2: torch.Tensor, weights: torch.Tensor,
                        basis: RadialBasis, optics: Optics, defocus: tuple[float, float, float],
                        phases: tuple[float, float, float] | None) -> list[tuple[float, float]]:
    """Candidate (mean defocus Å, phase shift °) for a rotational average ``profile`` at ``radius``
    (Fourier px, consecutive) with least-squares ``weights``, best first: the best local optima of
    the ring contrast's correlation with CTF² over the defocus grid, each refined."""
    contrast = ring_contrast(profile, basis(radius), weights)
    uniform = torch.ones_like(contrast)

    def costs(defoci: torch.Tensor, phase_values: torch.Tensor) -> torch.Tensor:
        """Negated correlation (D, P) of every defocus × phase hypothesis (inf where ruled out)."""
        d, p = torch.meshgrid(defoci, phase_values, indexing="ij")
        d, p = d.reshape(-1), p.reshape(-1)
        params = hypotheses(optics, d, d, torch.zeros_like(d), p)
        cost = -weighted_ncc(contrast, ctf_squared(params, s2), uniform)
        zeros = zeros_between(params, s2[0], s2[-1])
        if bool((zeros >= MIN_ZEROS).any()):
            cost = torch.where(zeros >= MIN_ZEROS, cost, torch.full_like(cost, math.inf))
        return cost.reshape(len(defoci), len(phase_values))

    low, high, step = defocus
    grid = torch.arange(low, high + 0.5 * step, step, dtype=torch.float64, device=profile.device)
    phase_grid = _phase_grid(phases, profile.device)
    coarse = costs(grid, phase_grid)
    per_defocus, best_phase = coarse.min(dim=1)
    fine = torch.arange(-step, step + 1e-9, step / FINE_FACTOR, dtype=torch.float64, device=profile.device)
    found = []
    for index in _local_minima(per_defocus)[:REFINED_MINIMA]:
        d0, p0 = float(grid[index]), float(phase_grid[best_phase[index]])
        fine_phases = phase_grid if phases is None else p0 + torch.linspace(-phases[2], phases[2], 11,
                                                                             dtype=torch.float64, device=grid.device)
        defoci = (d0 + fine).clamp_min(1.0)
        cost = costs(defoci, fine_phases)
        flat = int(torch.argmin(cost))
        found.append((float(cost.flatten()[flat]), float(defoci[flat // cost.shape[1]]),
                      float(fine_phases[flat % cost.shape[1]])))
    return [(d, p) for _, d, p in sorted(found)]


def ring_contrast(profile: torch.Tensor, basis_values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The profile (n,) minus its smooth background (weighted least squares on ``basis_values`` (n, K)),
    divided by its local RMS (Gaussian window of ``LOCAL_RMS_WIDTH`` × n samples)."""
    root = weights.sqrt()
    coef = torch.linalg.lstsq(basis_values * root[:, None], (profile * root)[:, None]).solution[:, 0]
    detrended = profile - basis_values @ coef
    power = gaussian_smooth(detrended.square(), max(1.0, LOCAL_RMS_WIDTH * len(profile)))
    return detrended / power.sqrt().clamp_min(1e-30)


def _local_minima(values: torch.Tensor) -> list[int]:
    """Indices of the finite local minima of a 1D curve, deepest first (the global minimum at least)."""
    inf = torch.full((1,), math.inf, dtype=values.dtype, device=values.device)
    padded = torch.cat([inf, values, inf])
    minima = torch.nonzero((values <= padded[:-2]) & (values <= padded[2:]) & torch.isfinite(values)).flatten()
    if minima.numel() == 0:
        minima = torch.argmin(values).reshape(1)
    return [int(i) for i in minima[torch.argsort(values[minima])]]


def zeros_between(params: object, s2_low: torch.Tensor, s2_high: torch.Tensor) -> torch.Tensor:
    """Number of CTF zeros (χ = mπ) between two squared frequencies, per hypothesis."""
    ends = torch.stack([s2_low, s2_high])
    chi = ctf_phase(params, ends, (0.5 * (params.defocus_u + params.defocus_v))[:, None].expand(-1, 2))  # type: ignore[attr-defined]
    return (torch.floor(chi[:, 1] / math.pi) - torch.floor(chi[:, 0] / math.pi)).abs()


def weighted_ncc(data: torch.Tensor, model: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted normalised cross-correlation of data (n,) with models (..., n): (...,)."""
    w = weight / weight.sum()
    dc = data - (w * data).sum()
    mc = model - (model * w).sum(-1, keepdim=True)
    return (mc * (w * dc)).sum(-1) / torch.sqrt((w * dc * dc).sum() * (w * mc * mc).sum(-1)).clamp_min(1e-300)


def astigmatism_penalty(astigmatism: torch.Tensor, tolerance: float, n_pixels: int) -> torch.Tensor:
    """CTFFIND's restraint (U − V)² / (2 · dAst² · n); no restraint when dAst ≤ 0."""
    if tolerance <= 0:
        return torch.zeros_like(astigmatism)
    return astigmatism.square() / (2.0 * tolerance**2 * n_pixels)


def fit_score(samples: BandSamples, mean: torch.Tensor, a_cos: torch.Tensor, a_sin: torch.Tensor,
              phase: torch.Tensor, tolerance: float) -> torch.Tensor:
    """Weighted NCC of (A − B) with E·CTF² minus the astigmatism restraint, per hypothesis (H,)."""
    model = samples.envelope * samples.ctf_squared(mean, a_cos, a_sin, phase)
    ncc = weighted_ncc(samples.values - samples.background, model, samples.weight)
    astig = 2.0 * torch.sqrt(a_cos.square() + a_sin.square() + 1e-12)
    return ncc - astigmatism_penalty(astig, tolerance, samples.values.numel())


def search_astigmatism(samples: BandSamples, mean_defocus: float, phase: float, max_half: float,
                       half_step: float, angle_step: float, tolerance: float) -> CtfFitParams:
    """Best astigmatic CTF around ``mean_defocus`` on a grid of half-astigmatism × angle (scored on half the
    pixels); ``phase`` in degrees."""
    samples = samples.every(2)
    device = samples.values.device
    halves = torch.arange(0.0, max_half + 0.5 * half_step, half_step, dtype=torch.float64, device=device)
    angles = torch.arange(0.0, 180.0, angle_step, dtype=torch.float64, device=device)
    a, theta = torch.meshgrid(halves, torch.deg2rad(angles), indexing="ij")
    a, theta = a.reshape(-1), theta.reshape(-1)
    scores = []
    for i in range(0, len(a), HYPOTHESIS_CHUNK):
        part = slice(i, i + HYPOTHESIS_CHUNK)
        n = a[part].shape[0]
        scores.append(fit_score(samples, torch.full((n,), mean_defocus, dtype=torch.float64, device=device),
                                a[part] * torch.cos(2 * theta[part]), a[part] * torch.sin(2 * theta[part]),
                                torch.full((n,), math.radians(phase), dtype=torch.float64, device=device), tolerance))
    best = int(torch.argmax(torch.cat(scores)))
    return CtfFitParams(mean_defocus + float(a[best]), mean_defocus - float(a[best]), math.degrees(float(theta[best])),
                        phase).normalised()


def _phase_grid(phases: tuple[float, float, float] | None, device: torch.device | str | None) -> torch.Tensor:
    if phases is None:
        return torch.zeros(1, dtype=torch.float64, device=device)
    low, high, step = phases
    return torch.arange(low, high + 0.5 * step, step, dtype=torch.float64, device=device)


__all__ = ["BandSamples", "band_samples", "search_mean_defocus", "REFINED_MINIMA", "search_astigmatism", "fit_score", "weighted_ncc",
           "astigmatism_penalty", "FINE_FACTOR"]
