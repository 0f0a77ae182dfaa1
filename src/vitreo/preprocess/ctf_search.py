"""Exhaustive CTF searches, CTFFIND4's way: first the mean defocus (and phase shift) on the
rotational average, then the astigmatism on the 2D spectrum.

1D: every defocus from ``min`` to ``max`` in ``step`` (× every phase shift when asked) is
scored by the weighted residual of the best background + envelope × CTF² fit
(``ctf_background``); the best is refined on a 10× finer grid around it.

2D: with that background and envelope fixed, every half-astigmatism A (0 … ``max``) and axis
angle θ (0 … 180°) around the mean defocus is scored by the weighted normalised
cross-correlation of the background-subtracted spectrum with E·CTF² over the fit band,
minus CTFFIND's astigmatism restraint (U − V)² / (2 · dAst² · n_pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vitreo.preprocess.ctf_background import RadialBasis, fit_backgrounds
from vitreo.preprocess.ctf_model import CtfFitParams, Optics, ctf_squared, hypotheses

FINE_FACTOR = 10  # the 1D refinement grid is this much finer than the search step
HYPOTHESIS_CHUNK = 256  # 2D hypotheses scored at once (bounds memory: chunk × pixels)


@dataclass(frozen=True)
class BandSamples:
    """The fit band's 2D samples: amplitude, s² (1/Å²), azimuth (rad), background, envelope and
    weight (1/background²) per pixel, each (n,) float64."""

    values: torch.Tensor
    s2: torch.Tensor
    azimuth: torch.Tensor
    background: torch.Tensor
    envelope: torch.Tensor
    weight: torch.Tensor


def search_mean_defocus(profile: torch.Tensor, radius: torch.Tensor, s2: torch.Tensor, weights: torch.Tensor,
                        basis: RadialBasis, optics: Optics, defocus: tuple[float, float, float],
                        phases: tuple[float, float, float] | None) -> tuple[float, float]:
    """Best (mean defocus Å, phase shift °) for a rotational average ``profile`` at ``radius`` (Fourier px)."""
    basis_values = basis(radius)

    def best(defoci: torch.Tensor, phase_values: torch.Tensor) -> tuple[float, float]:
        d, p = torch.meshgrid(defoci, phase_values, indexing="ij")
        d, p = d.reshape(-1), p.reshape(-1)
        params = hypotheses(optics, d, d, torch.zeros_like(d), p)
        rss = torch.cat([fit_backgrounds(profile, basis_values, ctf_squared(params[i : i + HYPOTHESIS_CHUNK], s2),
                                         weights)[2] for i in range(0, len(d), HYPOTHESIS_CHUNK)])
        index = int(torch.argmin(rss))
        return float(d[index]), float(p[index])

    low, high, step = defocus
    grid = torch.arange(low, high + 0.5 * step, step, dtype=torch.float64, device=profile.device)
    phase_grid = _phase_grid(phases, profile.device)
    d0, p0 = best(grid, phase_grid)
    fine = torch.arange(-step, step + 1e-9, step / FINE_FACTOR, dtype=torch.float64, device=profile.device)
    phase_step = phases[2] if phases else 0.0
    fine_phases = (p0 + torch.arange(-phase_step, phase_step + 1e-9, max(phase_step / 5, 1e-9), dtype=torch.float64,
                                     device=profile.device)) if phases else phase_grid
    return best((d0 + fine).clamp_min(1.0), fine_phases)


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


def fit_score(samples: BandSamples, params: object, tolerance: float) -> torch.Tensor:
    """Weighted NCC of (A − B) with E·CTF² minus the astigmatism restraint, per hypothesis (H,)."""
    model = samples.envelope * ctf_squared(params, samples.s2, samples.azimuth)  # type: ignore[arg-type]
    ncc = weighted_ncc(samples.values - samples.background, model, samples.weight)
    astig = params.defocus_u - params.defocus_v  # type: ignore[attr-defined]
    return ncc - astigmatism_penalty(astig, tolerance, samples.values.numel())


def search_astigmatism(samples: BandSamples, optics: Optics, mean_defocus: float, phase: float, max_half: float,
                       half_step: float, angle_step: float, tolerance: float) -> CtfFitParams:
    """Best astigmatic CTF around ``mean_defocus`` on a grid of half-astigmatism × angle."""
    device = samples.values.device
    halves = torch.arange(0.0, max_half + 0.5 * half_step, half_step, dtype=torch.float64, device=device)
    angles = torch.arange(0.0, 180.0, angle_step, dtype=torch.float64, device=device)
    a, theta = torch.meshgrid(halves, angles, indexing="ij")
    a, theta = a.reshape(-1), theta.reshape(-1)
    scores = []
    for i in range(0, len(a), HYPOTHESIS_CHUNK):
        part = slice(i, i + HYPOTHESIS_CHUNK)
        params = hypotheses(optics, mean_defocus + a[part], mean_defocus - a[part], theta[part],
                            torch.full_like(a[part], phase))
        scores.append(fit_score(samples, params, tolerance))
    best = int(torch.argmax(torch.cat(scores)))
    return CtfFitParams(mean_defocus + float(a[best]), mean_defocus - float(a[best]), float(theta[best]),
                        phase).normalised()


def _phase_grid(phases: tuple[float, float, float] | None, device: torch.device | str | None) -> torch.Tensor:
    if phases is None:
        return torch.zeros(1, dtype=torch.float64, device=device)
    low, high, step = phases
    return torch.arange(low, high + 0.5 * step, step, dtype=torch.float64, device=device)


__all__ = ["BandSamples", "search_mean_defocus", "search_astigmatism", "fit_score", "weighted_ncc",
           "astigmatism_penalty", "FINE_FACTOR"]
