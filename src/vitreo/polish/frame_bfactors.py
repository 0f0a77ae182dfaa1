"""Per-frame B-factors and scale factors from relative Guinier plots (RELION 2.1's polishing).

Frame group g's half-maps (reconstructed from that frame, or a running average of an odd number
of frames, alone) are compared with the half-maps of the average of all frames. With the signal
of frame g a_g(s)·S and that of the average A(s)·S, the cross power between independent halves,
masked, is C(g₁, a₂) = a_g A |S|² and C(a₁, a₂) = A² |S|², so

    a_g / A = (C(g₁, a₂) + C(g₂, a₁)) / (2 C(a₁, a₂))       (per shell)

A straight line through ln(a_g/A) against s² (1/Å²), over the shells between ``lowres`` and
``highres`` Å where the average still has signal (its FSC above 0.143) and the cross power is
positive, weighted by each shell's precision, gives B_g = 4 × slope (relative to the average:
higher is better) and the intercept c_g (the scale factor). Frames are weighted per frequency
by exp(B_g s²/4 + c_g), normalised to sum to one over frames. Fewer than 3 shells leave B_g undefined (NaN).

RELION 2.1 takes the ratio from each frame's own half-map FSC instead (τ_g/τ_avg =
√(FSC_g(1 − FSC_avg)/(FSC_avg(1 − FSC_g))), only where FSC_g > 0.143): the same slope, but a
single frame's FSC reaches 0.143 only with far more particles than the average's does (on
simulated movies, 1,000 particles at 4.5 Å/px gave no frame a defined B-factor beyond the third).
Correlating each frame with the average's other half measures its signal amplitude wherever
the average has signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.fourier import rfft_radius, shell_index
from vitreo.em.fsc import fsc, shell_sums

#: the average map must have FSC above this in a shell for the shell to enter the fit (RELION: 0.143)
FSC_THRESHOLD = 0.143
MIN_POINTS = 3


@dataclass(frozen=True)
class GuinierFit:
    """B-factor (Å²), intercept and correlation of a relative Guinier fit, and its points."""

    bfactor: float
    intercept: float
    correlation: float
    s2: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class HalfSpectra:
    """The Fourier transforms (rfft) of two masked half-maps."""

    half1: torch.Tensor
    half2: torch.Tensor

    @classmethod
    def of(cls, half1: torch.Tensor, half2: torch.Tensor, mask: torch.Tensor) -> HalfSpectra:
        return cls(torch.fft.rfftn(half1.double() * mask), torch.fft.rfftn(half2.double() * mask))

    @property
    def box(self) -> int:
        return self.half1.shape[0]


def _shells(box: int, ndim: int, device: torch.device) -> tuple[torch.Tensor, int]:
    return shell_index((box,) * ndim, device), box // 2 + 1


def _cross(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Σ Re(a·b*) over each shell 0 … N//2 (float64)."""
    return shell_sums((a * b.conj()).real, *_shells(a.shape[0], a.dim(), a.device)).numpy()


def shell_counts(average: HalfSpectra) -> np.ndarray:
    """Fourier voxels (rfft) in each shell (N//2+1,)."""
    ones = torch.ones(average.half1.shape, dtype=torch.float64, device=average.half1.device)
    return shell_sums(ones, *_shells(average.box, ones.dim(), ones.device)).numpy()


def relative_amplitudes(frame: HalfSpectra, average: HalfSpectra) -> np.ndarray:
    """a_g/A per shell (N//2+1,) from cross powers between opposite halves (module docstring)."""
    numerator = 0.5 * (_cross(frame.half1, average.half2) + _cross(frame.half2, average.half1))
    denominator = _cross(average.half1, average.half2)
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def relative_guinier(ratio: np.ndarray, fsc_average: np.ndarray, pixel_size: float, lowres: float = 20.0,
                     highres: float = 0.0, counts: np.ndarray | None = None) -> GuinierFit:
    """The relative Guinier fit of a frame's amplitude ratio a_g/A (N//2+1,) (module docstring).

    Shells are weighted by the inverse variance of ln(a_g/A) where noise dominates, ∝ the number
    of voxels (``counts``, default equal) times the average's SSNR = FSC/(1 − FSC).
    """
    box = 2 * (len(ratio) - 1)
    s = np.arange(1, len(ratio)) / (box * pixel_size)
    resolution = 1.0 / s
    r, a = ratio[1:], fsc_average[1:]
    n = np.ones(len(r)) if counts is None else np.asarray(counts, float)[1:]
    with np.errstate(invalid="ignore"):
        use = (resolution < lowres) & (resolution > highres) & (a > FSC_THRESHOLD) & (a < 1.0) & (r > 0)
    x, y = s[use] ** 2, np.log(r[use])
    if len(x) < MIN_POINTS:
        return GuinierFit(float("nan"), float("nan"), float("nan"), x, y)
    weights = n[use] * a[use] / (1.0 - a[use])
    slope, intercept = np.polyfit(x, y, 1, w=np.sqrt(weights))
    correlation = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else 1.0
    return GuinierFit(float(4.0 * slope), float(intercept), correlation, x, y)


def fit_frames(frames: list[tuple[torch.Tensor, torch.Tensor]], average: tuple[torch.Tensor, torch.Tensor],
               mask: torch.Tensor, pixel_size: float, lowres: float = 20.0, highres: float = 0.0) -> list[GuinierFit]:
    """Each frame group's relative Guinier fit from its half-maps and those of the average (N³ each)."""
    reference = HalfSpectra.of(*average, mask)
    fsc_average = fsc(average[0].double() * mask, average[1].double() * mask).numpy()
    counts = shell_counts(reference)
    return [relative_guinier(relative_amplitudes(HalfSpectra.of(*frame, mask), reference), fsc_average, pixel_size,
                             lowres, highres, counts) for frame in frames]


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


__all__ = ["GuinierFit", "HalfSpectra", "shell_counts", "relative_amplitudes", "relative_guinier", "fit_frames",
           "frame_weights", "dose_frame_weights", "FSC_THRESHOLD"]
