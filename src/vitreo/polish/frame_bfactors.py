"""Per-frame B-factors and scale factors from relative Guinier plots (RELION 2.1's polishing).

For frame group g, the half-maps reconstructed from that frame (or a running average of an odd
number of frames) alone and the average of all frames' maps give masked FSCs; the ratio of their
signal amplitudes is τ_g/τ_avg = √(FSC_g(1 − FSC_avg) / (FSC_avg(1 − FSC_g))). A straight line
through ln(τ_g/τ_avg) against s² (1/Å²), over the shells between ``lowres`` and ``highres`` Å where
both FSCs lie in (0.143, 1), gives B_g = 4 × slope (relative to the average: higher is better)
and the intercept c_g. Frames are then weighted per frequency by exp(B_g s²/4 + c_g), normalised
to sum to one over frames. Fewer than 3 points leave B_g undefined (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.fourier import rfft_radius
from vitreo.em.fsc import fsc

#: FSC range in which a shell enters the Guinier fit (RELION's 0.143 < FSC < 1).
FSC_RANGE = (0.143, 1.0)
MIN_POINTS = 3


@dataclass(frozen=True)
class GuinierFit:
    """B-factor (Å²), intercept and correlation of a relative Guinier fit, and its points."""

    bfactor: float
    intercept: float
    correlation: float
    s2: np.ndarray
    values: np.ndarray


def masked_fsc(half1: torch.Tensor, half2: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """FSC (N//2+1,) of two half-maps multiplied by a mask."""
    return fsc(half1 * mask, half2 * mask).double().numpy()


def relative_guinier(fsc_frame: np.ndarray, fsc_average: np.ndarray, box: int, pixel_size: float,
                     lowres: float = 20.0, highres: float = 0.0) -> GuinierFit:
    """The relative Guinier fit of one frame's FSC against the average's (see the module docstring)."""
    shells = np.arange(1, len(fsc_frame))
    s = shells / (box * pixel_size)
    resolution = 1.0 / s
    f, a = fsc_frame[1:], fsc_average[1:]
    low, high = FSC_RANGE
    use = (resolution < lowres) & (resolution > highres) & (f > low) & (a > low) & (f < high) & (a < high)
    x = s[use] ** 2
    y = np.log(np.sqrt((f[use] - f[use] * a[use]) / (a[use] - f[use] * a[use])))
    if len(x) < MIN_POINTS:
        return GuinierFit(float("nan"), float("nan"), float("nan"), x, y)
    slope, intercept = np.polyfit(x, y, 1)
    correlation = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else 1.0
    return GuinierFit(float(4.0 * slope), float(intercept), correlation, x, y)


def frame_weights(bfactors: np.ndarray, intercepts: np.ndarray, box: int, pixel_size: float) -> torch.Tensor:
    """Relative weights (G, N, N//2+1) exp(B_g s²/4 + c_g) / Σ_g' on the rfft grid (s in 1/Å)."""
    s2 = (rfft_radius((box, box), dtype=torch.float64) / pixel_size) ** 2
    b = torch.as_tensor(bfactors, dtype=torch.float64)[:, None, None]
    c = torch.as_tensor(intercepts, dtype=torch.float64)[:, None, None]
    exponent = b / 4.0 * s2 + c
    weights = torch.softmax(exponent, dim=0)  # exp(...) / Σ exp(...), without overflow
    return weights.to(torch.float32)


def dose_frame_weights(damage: torch.Tensor) -> torch.Tensor:
    """Per-group weights (G, N, N//2+1) proportional to each group's damage attenuation, summing to
    one over groups: the matched filter for frames of equal noise."""
    return damage / damage.sum(0, keepdim=True).clamp_min(1e-30)


__all__ = ["GuinierFit", "masked_fsc", "relative_guinier", "frame_weights", "dose_frame_weights", "FSC_RANGE"]
