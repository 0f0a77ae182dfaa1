"""Radiation damage: Grant & Grigorieff's critical exposure, frame damage and dose weights.

Grant & Grigorieff, eLife 4:e06980 (2015), eq. 3: the critical exposure Ne(k) (e/Å²) at which
the amplitude at spatial frequency k (1/Å) has fallen to 1/e,

    Ne(k) = 0.245 · k^(−1.665) + 2.81          (300 kV)

and after a cumulative exposure N (e/Å²) amplitudes are multiplied by exp(−N / (2·Ne)) (eq. 5).
At 200 kV electrons do more damage per e/Å²: Ne is multiplied by 0.8 (unblur, MotionCor2 and
RELION do the same). For other voltages the factor is taken linear in β² = (v/c)², the way
scattering cross sections scale, through those two anchors (1 at 300 kV, 0.8 at 200 kV).
Frequencies k are tensors of any shape; k = 0 has an infinite critical exposure (no damage).
"""

from __future__ import annotations

import math

import torch

#: Grant & Grigorieff (2015) eq. 3 at 300 kV: Ne(k) = A · k^B + C, k in 1/Å, Ne in e/Å².
CRITICAL_EXPOSURE_A = 0.245
CRITICAL_EXPOSURE_B = -1.665
CRITICAL_EXPOSURE_C = 2.81
_ELECTRON_REST_KEV = 510.99895


def beta_squared(voltage_kv: float) -> float:
    """(v/c)² of an electron accelerated through ``voltage_kv`` kV."""
    gamma = 1.0 + voltage_kv / _ELECTRON_REST_KEV
    return 1.0 - 1.0 / (gamma * gamma)


def voltage_factor(voltage_kv: float) -> float:
    """Ne(V) / Ne(300 kV): 1 at 300 kV, 0.8 at 200 kV, linear in β² (e.g. 0.49 at 100 kV)."""
    if voltage_kv <= 0:
        raise ValueError(f"voltage must be positive, got {voltage_kv} kV")
    b200, b300 = beta_squared(200.0), beta_squared(300.0)
    return 0.8 + 0.2 * (beta_squared(voltage_kv) - b200) / (b300 - b200)


def critical_exposure(k: torch.Tensor, voltage_kv: float = 300.0) -> torch.Tensor:
    """Ne(k) in e/Å² for spatial frequencies ``k`` (1/Å, any shape); +inf at k = 0."""
    k = torch.as_tensor(k)
    k = k if k.is_floating_point() else k.double()
    positive = k > 0
    safe = torch.where(positive, k, torch.ones_like(k))
    ne = (CRITICAL_EXPOSURE_A * safe.pow(CRITICAL_EXPOSURE_B) + CRITICAL_EXPOSURE_C) * voltage_factor(voltage_kv)
    return torch.where(positive, ne, torch.full_like(ne, math.inf))


def damage_filter(k: torch.Tensor, exposure: float, voltage_kv: float = 300.0) -> torch.Tensor:
    """Amplitude attenuation exp(−N / (2·Ne(k))) after a cumulative exposure N (e/Å²)."""
    return torch.exp(-exposure / (2.0 * critical_exposure(k, voltage_kv)))


def frame_damage(k: torch.Tensor, start: float, stop: float, voltage_kv: float = 300.0) -> torch.Tensor:
    """Attenuation averaged over a frame exposed from ``start`` to ``stop`` e/Å² (cumulative).

    The signal recorded during the frame is the mean of exp(−N/(2Ne)) over N in [start, stop],
    2Ne/(stop − start) · (exp(−start/(2Ne)) − exp(−stop/(2Ne))); equals :func:`damage_filter`
    when start == stop.
    """
    if stop < start:
        raise ValueError(f"frame exposure must not decrease: start {start}, stop {stop} e/Å²")
    if stop == start:
        return damage_filter(k, start, voltage_kv)
    two_ne = 2.0 * critical_exposure(k, voltage_kv)
    mean = two_ne / (stop - start) * (torch.exp(-start / two_ne) - torch.exp(-stop / two_ne))
    return torch.where(torch.isinf(two_ne), torch.ones_like(mean), mean)


def dose_weights(
    k: torch.Tensor, n_frames: int, dose_per_frame: float, voltage_kv: float = 300.0, pre_exposure: float = 0.0
) -> torch.Tensor:
    """Per-frame dose weights (n_frames, *k.shape) as RELION's motion correction applies them.

    Frame f (0-based) is weighted by exp(−N_f / (2·Ne(k))) with N_f = pre_exposure +
    dose_per_frame · (f + 1), the exposure at the end of the frame, then the weights are
    normalised so that Σ_f w_f² = 1 at every frequency (Grant & Grigorieff eq. 9).
    """
    if n_frames < 1 or dose_per_frame <= 0:
        raise ValueError(f"need n_frames ≥ 1 and a positive dose per frame, got {n_frames}, {dose_per_frame}")
    ne = critical_exposure(k, voltage_kv)
    exposures = pre_exposure + dose_per_frame * torch.arange(1, n_frames + 1, dtype=ne.dtype, device=ne.device)
    weights = torch.exp(-exposures.reshape((-1,) + (1,) * ne.dim()) / (2.0 * ne))
    return weights / weights.square().sum(0).sqrt()
