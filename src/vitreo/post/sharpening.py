"""Map sharpening as RELION's post-processing: MTF division, FSC weighting, Guinier plots, B-factors.

Transforms are RELION-normalised rffts (``rfftn(x) / N³``) so that Guinier intercepts match
RELION's. Shells are round(|k|·N) on the rfft grid (:func:`vitreo.em.fourier.shell_index`),
shell i at spatial frequency s = i/(N·pixel_size) 1/Å. The Guinier plot is ln(mean |F|) of each
shell against s² (1/Å²); a B-factor B multiplies F by exp(−B s²/4), so a fitted slope a gives the
sharpening B-factor 4a (negative for a map that falls off).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em import filters
from vitreo.em.fourier import rfft_radius, shell_index
from vitreo.em.fsc import shell_sums

#: Shells whose FSC is below this, and all shells beyond the first of them, get zero weight (RELION).
FSC_WEIGHT_FLOOR = 1e-4
#: ln amplitude RELION writes for an empty shell.
EMPTY_SHELL = -99.0


@dataclass(frozen=True)
class GuinierFit:
    """A straight line through a Guinier plot: ln|F| = intercept + slope·s² (slope in Å²)."""

    slope: float
    intercept: float
    correlation: float
    first_shell: int
    last_shell: int

    @property
    def bfactor(self) -> float:
        """The B-factor (Å²) that flattens the fitted fall-off: 4·slope (RELION's auto-B)."""
        return 4.0 * self.slope


@functools.lru_cache(maxsize=4)
def shell_layout(shape: tuple[int, ...], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Shell of each rfft voxel of ``shape`` (:func:`vitreo.em.fourier.shell_index`) and voxels per shell
    0 … N//2 (float64); cached, so callers must not modify them."""
    shells = shell_index(shape, device)
    counts = shell_sums(torch.ones_like(shells, dtype=torch.float64), shells, shape[-1] // 2 + 1)
    return shells, counts


def normalised_rfft(volume: torch.Tensor) -> torch.Tensor:
    """rfftn of 3D maps (..., z, y, x) divided by their number of voxels (RELION's FourierTransformer)."""
    return torch.fft.rfftn(volume, dim=(-3, -2, -1)) / math.prod(volume.shape[-3:])


def mtf_response(
    curve: tuple[np.ndarray, np.ndarray], shape: tuple[int, ...], pixel_size: float, mtf_pixel_size: float,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The detector MTF on the rfft grid of ``shape`` (:func:`vitreo.em.filters.mtf_response`), 1
    beyond Nyquist (where RELION does not divide)."""
    response = filters.mtf_response(curve, shape, pixel_size, mtf_pixel_size, device)
    radius = rfft_radius(shape, response.device, torch.float64)
    return torch.where(radius < 0.5, response, torch.ones_like(response))


def guinier_curve(transform: torch.Tensor, shape: tuple[int, ...], pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """(s² in 1/Å², ln mean |F|) for each shell 0 … N//2 of an rfft; empty shells get −99 as in RELION."""
    box = shape[-1]
    n_shells = box // 2 + 1
    shells, counts = shell_layout(shape, transform.device)
    amplitude = shell_sums(transform.abs().double(), shells, n_shells)
    mean = (amplitude / counts.clamp_min(1)).cpu().numpy()
    log_amplitude = np.full(n_shells, EMPTY_SHELL)
    np.log(mean, out=log_amplitude, where=mean > 0)
    s2 = (np.arange(n_shells) / (box * pixel_size)) ** 2
    return s2, log_amplitude


def fit_guinier(
    s2: np.ndarray, log_amplitude: np.ndarray, pixel_size: float, box: int, low_resolution: float,
    high_resolution: float,
) -> GuinierFit:
    """Least-squares line through the shells between ``low_resolution`` and ``high_resolution`` Å (both included).

    Raises ValueError when fewer than 3 non-empty shells lie in that range (a map that does not
    extend beyond the low-resolution limit needs a user B-factor instead).
    """
    shells = np.arange(len(s2))
    with np.errstate(divide="ignore"):
        resolution = np.where(shells > 0, box * pixel_size / np.maximum(shells, 1), np.inf)
    use = (resolution <= low_resolution) & (resolution >= high_resolution) & (log_amplitude > EMPTY_SHELL)
    if use.sum() < 3:
        raise ValueError(f"fewer than 3 shells between {low_resolution:.2f} and {high_resolution:.2f} Å to fit a "
                         "B-factor: the map does not extend far enough beyond the lowest resolution of the fit; "
                         "use your own B-factor")
    x, y = s2[use], log_amplitude[use]
    slope, intercept = np.polyfit(x, y, 1)
    correlation = float(np.corrcoef(x, y)[0, 1])
    return GuinierFit(float(slope), float(intercept), correlation, int(shells[use][0]), int(shells[use][-1]))


def fsc_weights(fsc: torch.Tensor) -> torch.Tensor:
    """√(2·FSC/(1 + FSC)) per shell (Rosenthal & Henderson 2003), zero from the first shell below 1e-4 on.

    ``fsc`` (..., n_shells); batched curves give batched weights.
    """
    valid = torch.cumprod((fsc >= FSC_WEIGHT_FLOOR).to(fsc.dtype), dim=-1)
    return torch.sqrt((2.0 * fsc / (1.0 + fsc)).clamp_min(0.0)) * valid


def shell_response(weights: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Per-shell values (..., N//2+1) on the rfft grid of ``shape`` (..., *rfft_shape); 0 beyond Nyquist."""
    n_shells = weights.shape[-1]
    shells = shell_layout(shape, weights.device)[0]
    padded = torch.nn.functional.pad(weights, (0, 1))
    return padded[..., shells.clamp_max(n_shells)]


def lowpass_shells(resolution: torch.Tensor | float, pixel_size: float, box: int) -> torch.Tensor:
    """The cutoff (in Fourier pixels) of a low-pass filter at ``resolution`` Å: RELION's ROUND(N·pixel/resolution)."""
    cutoff = box * pixel_size / torch.as_tensor(resolution, dtype=torch.float64)
    return torch.floor(cutoff + 0.5)


def resolution_label(resolution: float) -> str:
    """A resolution for the log: '3.54 Å', or 'inf' when no shell passed."""
    return "inf" if math.isinf(resolution) else f"{resolution:.2f} Å"


__all__ = [
    "FSC_WEIGHT_FLOOR", "EMPTY_SHELL", "GuinierFit", "shell_layout", "normalised_rfft", "mtf_response", "guinier_curve",
    "fit_guinier", "fsc_weights", "shell_response", "lowpass_shells", "resolution_label",
]
