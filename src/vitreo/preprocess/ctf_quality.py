"""How well a CTF fit holds: equi-phase average, ring-by-ring correlation and fit resolution.

The equi-phase average (CTFFIND4's "rotational average of the spectrum" taking astigmatism
into account) bins each pixel at the frequency where the mean-defocus CTF has the pixel's
phase χ, so astigmatic rings line up. Around each frequency, the profile is compared with
CTF² over a window one CTF² period wide on each side (|Δχ| ≤ π), after removing a linear
background trend from both within the window; the correlation is judged against 2/√n for n
points in the window (CTFFIND's "2σ of the expected cross-correlation of noise"). The fit
resolution (rlnCtfMaxResolution) is the last frequency, beyond the first CTF zero, before
the correlation first falls below that threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vitreo.em.ctf import _frequency_at_phase, ctf_zeros
from vitreo.preprocess.ctf_model import CtfFitParams, Optics, fit_params, phase_of
from vitreo.preprocess.ctf_spectrum import SpectrumGrid, radial_profile


@dataclass(frozen=True)
class RingStatistics:
    """Per radial bin (n_bins,): frequency (1/Å), equi-phase average, CTF² at the mean defocus, windowed
    correlation and its 2σ noise threshold; and the fit resolution (Å)."""

    frequency: torch.Tensor
    equiphase: torch.Tensor
    model: torch.Tensor
    correlation: torch.Tensor
    threshold: torch.Tensor
    fit_resolution: float


def equivalent_radius(grid: SpectrumGrid, params: CtfFitParams, optics: Optics) -> torch.Tensor:
    """Per pixel (N, N): the radius (Fourier px) at which the mean-defocus CTF has the pixel's phase
    (the pixel's own radius where that phase is out of the mean-defocus CTF's reach)."""
    chi = phase_of(fit_params(params, optics, grid.s2.device), grid.s2.reshape(-1), grid.azimuth.reshape(-1))
    mean = params.mean_defocus
    round_params = fit_params(CtfFitParams(mean, mean, 0.0, params.phase_shift), optics, grid.s2.device)
    # em.ctf's solver of χ(s) = target for the smallest s (the same quadratic in s² as ctf_zeros)
    s_eq = _frequency_at_phase(round_params, round_params.defocus_u, chi)[0]
    s_eq = torch.where(torch.isfinite(s_eq), s_eq, grid.s2.reshape(-1).sqrt())
    return (s_eq * grid.box * grid.pixel_size).reshape(grid.box, grid.box)


def ring_statistics(spectrum: torch.Tensor, grid: SpectrumGrid, params: CtfFitParams, optics: Optics,
                    r_min: float) -> RingStatistics:
    """Equi-phase profile, its windowed correlation with CTF² and the fit resolution (see module docstring)."""
    n_bins = grid.n_bins
    radius = equivalent_radius(grid, params, optics)
    equiphase, counts = radial_profile(spectrum, radius, n_bins, grid.half_plane)
    bins = torch.arange(n_bins, dtype=torch.float64, device=spectrum.device)
    frequency = bins / (grid.box * grid.pixel_size)
    mean = params.mean_defocus
    mean_params = fit_params(CtfFitParams(mean, mean, 0.0, params.phase_shift), optics, spectrum.device)
    chi = phase_of(mean_params, frequency.square(), torch.zeros_like(frequency))[0]
    model = torch.sin(chi).square()
    valid = (bins >= r_min) & (bins <= grid.box // 2) & (counts > 0)
    correlation, n_window = _windowed_partial_correlation(equiphase, model, frequency, chi, valid)
    threshold = 2.0 / n_window.clamp_min(1.0).sqrt()
    first_zero = float(ctf_zeros(mean_params, 1)[0, 0])
    start = valid & (frequency > (first_zero if math.isfinite(first_zero) else 0.0))
    resolution = _fit_resolution(correlation, threshold, frequency, start, valid)
    return RingStatistics(frequency, equiphase, model, torch.where(valid, correlation, torch.zeros_like(correlation)),
                          torch.where(valid, threshold, torch.zeros_like(threshold)), resolution)


def _windowed_partial_correlation(profile: torch.Tensor, model: torch.Tensor, frequency: torch.Tensor,
                                  chi: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Correlation of profile and model within |Δχ| ≤ π of each bin, both detrended (linear in s)."""
    window = ((chi[:, None] - chi[None, :]).abs() <= math.pi) & valid[None, :]
    m = window.to(profile.dtype)
    count = m.sum(1).clamp_min(1.0)

    def centred(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return m @ (u * v) - (m @ u) * (m @ v) / count

    s = frequency
    c_ss, c_ps, c_ms = centred(s, s), centred(profile, s), centred(model, s)
    c_pp = centred(profile, profile) - c_ps.square() / c_ss.clamp_min(1e-300)
    c_mm = centred(model, model) - c_ms.square() / c_ss.clamp_min(1e-300)
    c_pm = centred(profile, model) - c_ps * c_ms / c_ss.clamp_min(1e-300)
    corr = c_pm / torch.sqrt((c_pp * c_mm).clamp_min(1e-300))
    return torch.where(count > 3, corr, torch.zeros_like(corr)), count


def _fit_resolution(correlation: torch.Tensor, threshold: torch.Tensor, frequency: torch.Tensor, start: torch.Tensor,
                    valid: torch.Tensor) -> float:
    """1/s of the last bin from ``start`` on before the correlation first drops below the threshold."""
    candidates = torch.nonzero(start).flatten()
    if candidates.numel() == 0:
        return math.inf
    first = int(candidates[0])
    last_valid = int(torch.nonzero(valid).flatten()[-1])
    failing = torch.nonzero((correlation < threshold) & start).flatten()
    stop = int(failing[0]) if failing.numel() else last_valid + 1
    best = max(first, stop - 1)
    return float(1.0 / frequency[best])


__all__ = ["RingStatistics", "ring_statistics", "equivalent_radius"]
