"""Iterative frame alignment (MotionCor2's scheme, as in RELION's own motion correction).

Each frame (or group of frames) is cross-correlated with the sum of all the others, its
shift is read at the sub-pixel CCF peak and applied in Fourier space, and this repeats
until the shifts stop changing. Both images are weighted by exp(−B·k²) (k in cycles per
pixel, B in pixel², RELION's ``--bfactor``, 150 by default), so the CCF is weighted by
exp(−2·B·k²); the spectra are cropped to where that weight exceeds 1e-3, which makes the
alignment cheap. Stacks are batched: spectra (..., G, H, W//2+1) align every leading index
(patches) independently in one pass.

Two guards against the box edges, which do not move with the specimen and so pull every
shift towards zero when the image has large-scale contrast (ice gradients, carbon edges):
the images are tapered to their mean over the outer 1/16 of each side (raised cosine), and
structure coarser than ``HIGHPASS_PX`` Fourier pixels of the image is filtered out
(weight 1 − exp(−k²/2k₀²) per image). Neither is in RELION; both are standard practice
(Unblur, MotionCor2 patch tapering) and change nothing for featureless edges.

Shifts are RELION's: the shift s_f that aligns frame f (the aligned sum takes frame f
moved by +s_f), in pixels (x, y) of the full image, relative to the first frame (s_0 = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vitreo.em.fourier import fourier_resize, shift_phases
from vitreo.preprocess.ccf_peak import coarse_peaks, refine_peaks

CCF_WEIGHT_FLOOR = 1e-3  # crop the spectra where exp(−2Bk²) falls below this
TAPER_FRACTION = 1.0 / 16  # width of the edge taper, per side
HIGHPASS_PX = 4.0  # k₀ of the high-pass, in Fourier pixels of the image (cycles per image)
MAX_ITERATIONS = 10
TOLERANCE_PX = 0.01  # stop when the RMS shift update falls below this


@dataclass(frozen=True)
class Alignment:
    """Shifts (..., G, 2) in full-image pixels (group 0 = 0) and the RMS update of each iteration."""

    shifts: torch.Tensor
    rmsd: list[float]


def alignment_grid(shape: tuple[int, int], bfactor: float) -> tuple[int, int]:
    """Even (H, W) of the cropped alignment grid for images of ``shape`` (ny, nx) and a B-factor (px²)."""
    k_max = math.sqrt(-math.log(CCF_WEIGHT_FLOOR) / (2.0 * bfactor)) if bfactor > 0 else 0.5
    fraction = min(1.0, 2.0 * k_max)
    return tuple(min(n, max(16, 2 * int(math.ceil(n * fraction / 2.0)))) for n in shape)  # type: ignore[return-value]


def crop_spectra(spectra: torch.Tensor, shape: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """rfft spectra (..., ny, nx//2+1) of images of ``shape`` cropped to the alignment ``grid``."""
    return spectra if tuple(grid) == tuple(shape) else fourier_resize(spectra, shape, grid)


def taper_window(grid: tuple[int, int], device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32, fraction: float = TAPER_FRACTION) -> torch.Tensor:
    """Separable raised-cosine edge taper (H, W): 0 → 1 over ``fraction`` of each side."""
    ramps = []
    for n in grid:
        width = max(1, int(round(n * fraction)))
        ramp = torch.ones(n, device=device, dtype=dtype)
        edge = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(width, device=device, dtype=dtype) + 0.5) / width)
        ramp[:width] = edge
        ramp[n - width:] = torch.minimum(ramp[n - width:], edge.flip(0))
        ramps.append(ramp)
    return ramps[0][:, None] * ramps[1][None, :]


def prepare_spectra(cropped: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Cropped spectra (..., H, W//2+1) of images whose edges are tapered to each image's mean."""
    images = torch.fft.irfft2(cropped, s=grid)
    mean = images.mean(dim=(-2, -1), keepdim=True)
    return torch.fft.rfft2((images - mean) * taper_window(grid, images.device, images.dtype))


def align_stack(spectra: torch.Tensor, shape: tuple[float, float], grid: tuple[int, int], bfactor: float,
                max_shift: float, max_iterations: int = MAX_ITERATIONS, tolerance: float = TOLERANCE_PX) -> Alignment:
    """Align the G images of each stack given as cropped spectra (..., G, H, W//2+1) on ``grid``
    (tapered by :func:`prepare_spectra`).

    ``shape`` is the size (ny, nx) in full-image pixels of the field the spectra cover; ``max_shift``
    bounds the shift change of one iteration (pixels). Returns shifts relative to image 0.
    """
    real = spectra.real.dtype
    k2 = _squared_frequencies(grid, shape, spectra.device, real)
    k0 = HIGHPASS_PX / min(shape)
    weight = torch.exp(-2.0 * bfactor * k2) * (1.0 - torch.exp(-0.5 * k2 / k0**2)).square()
    scale = torch.tensor([grid[1] / shape[1], grid[0] / shape[0]], device=spectra.device, dtype=real)
    current = spectra
    total = torch.zeros(spectra.shape[:-2] + (2,), device=spectra.device, dtype=real)
    history: list[float] = []
    for _ in range(max_iterations):
        reference = current.sum(dim=-3, keepdim=True) - current
        product = reference * current.conj() * weight
        peaks, spacing = coarse_peaks(product, grid, shape, max_shift)
        peaks = refine_peaks(product, grid, shape, peaks, spacing)
        update = peaks - peaks[..., :1, :]
        current = current * shift_phases(update * scale, grid)
        total = total + update
        rms = update.square().sum(-1).mean(-1).sqrt()  # per stack
        history.append(float(rms.mean()))
        if float(rms.max()) < tolerance:
            break
    return Alignment(total, history)


def _squared_frequencies(grid: tuple[int, int], shape: tuple[float, float], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """k² (cycles per full-image pixel, squared) on the cropped rfft grid."""
    fy = torch.fft.fftfreq(grid[0], device=device, dtype=dtype) * (grid[0] / shape[0])
    fx = torch.fft.rfftfreq(grid[1], device=device, dtype=dtype) * (grid[1] / shape[1])
    return fy[:, None].square() + fx[None, :].square()


__all__ = ["Alignment", "alignment_grid", "crop_spectra", "prepare_spectra", "taper_window", "align_stack",
           "CCF_WEIGHT_FLOOR"]
