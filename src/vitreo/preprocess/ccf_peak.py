"""Sub-pixel peaks of cross-correlation functions given by their (cropped) spectra.

A cross-correlation spectrum C (..., H, W//2+1) lives on a grid cropped from an image of
``full_shape`` (ny, nx) pixels: its frequencies are those of an H×W rfft grid scaled by
(H/ny, W/nx), i.e. it describes the same field of view at a coarser sampling. The CCF at a
real-space offset r (original pixels, (x, y)) is Σ_k C(k) exp(+2πi k·r).

Peaks are found coarse to fine: the maximum of ``irfft2`` of C cropped further to at most
``COARSE_GRID`` samples a side (within ``max_shift``), then the CCF evaluated exactly on
small local grids by a matrix DFT, each pass four times finer than the last, and finally a
parabola through the best sample and its neighbours along x and along y.
"""

from __future__ import annotations

import math

import torch

from vitreo.em.fourier import fourier_resize

COARSE_GRID = 128  # largest side of the grid of the coarse search
FINE_POINTS = 9  # samples per axis of each refinement pass
FINAL_STEP_PX = 0.1  # refinement stops at this spacing (original pixels); the parabola refines further


def hermitian_weights(width: int, device: torch.device | str | None, dtype: torch.dtype) -> torch.Tensor:
    """How often each rfft column counts in a real inverse transform of even ``width``: 1, 2, ..., 2, 1."""
    m = torch.full((width // 2 + 1,), 2.0, device=device, dtype=dtype)
    m[0] = 1.0
    m[-1] = 1.0
    return m


def coarse_peaks(spectra: torch.Tensor, grid: tuple[int, int], full_shape: tuple[int, int],
                 max_shift: float) -> tuple[torch.Tensor, float]:
    """Offsets (..., 2) = (x, y) in original pixels of the CCF maximum within ``max_shift`` px, and
    the spacing (px) of the grid it was found on."""
    coarse = tuple(min(n, COARSE_GRID) for n in grid)
    if coarse != tuple(grid):
        spectra = fourier_resize(spectra, grid, coarse)
    h, w = coarse
    ccf = torch.fft.irfft2(spectra, s=coarse)
    scale_y, scale_x = full_shape[0] / h, full_shape[1] / w
    dy = torch.fft.fftfreq(h, 1.0 / h, device=ccf.device) * scale_y
    dx = torch.fft.fftfreq(w, 1.0 / w, device=ccf.device) * scale_x
    outside = (dy[:, None].abs() > max_shift) | (dx[None, :].abs() > max_shift)
    flat = ccf.masked_fill(outside, -math.inf).flatten(-2).argmax(-1)
    return torch.stack([dx[flat % w], dy[flat // w]], dim=-1), max(scale_x, scale_y)


def refine_peaks(spectra: torch.Tensor, grid: tuple[int, int], full_shape: tuple[int, int], start: torch.Tensor,
                 spacing: float) -> torch.Tensor:
    """Sub-pixel CCF maxima (..., 2) near ``start`` (..., 2), found on a grid of ``spacing`` px."""
    h, w = grid
    real = spectra.real.dtype
    fy = torch.fft.fftfreq(h, device=spectra.device, dtype=real) * (h / full_shape[0])
    fx = torch.fft.rfftfreq(w, device=spectra.device, dtype=real) * (w / full_shape[1])
    hermitian = hermitian_weights(w, spectra.device, real)
    centre = start.to(real)
    step = spacing
    while True:
        step = max(step / 4.0, FINAL_STEP_PX) if step > FINAL_STEP_PX else FINAL_STEP_PX
        offsets = (torch.arange(FINE_POINTS, device=spectra.device, dtype=real) - FINE_POINTS // 2) * step
        ccf = _local_ccf(spectra, fy, fx, hermitian, centre, offsets)
        best = ccf.flatten(-2).argmax(-1)
        iy, ix = best // FINE_POINTS, best % FINE_POINTS
        centre = centre + torch.stack([offsets[ix], offsets[iy]], dim=-1)
        if step <= FINAL_STEP_PX:
            return centre + torch.stack([_parabolic(ccf, iy, ix, -1), _parabolic(ccf, iy, ix, -2)], dim=-1) * step


def _local_ccf(spectra: torch.Tensor, fy: torch.Tensor, fx: torch.Tensor, hermitian: torch.Tensor,
               centre: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The CCF on the grid centre + (offsets_x, offsets_y): (..., n_y, n_x)."""
    ry = centre[..., 1:2] + offsets
    rx = centre[..., 0:1] + offsets
    ey = _unit_phasors(2 * math.pi * ry[..., None] * fy)  # (..., n, h)
    ex = _unit_phasors(2 * math.pi * rx[..., None] * fx) * hermitian
    return ((ey @ spectra) @ ex.transpose(-1, -2)).real


def _unit_phasors(angle: torch.Tensor) -> torch.Tensor:
    """exp(i·angle)."""
    return torch.complex(torch.cos(angle), torch.sin(angle))


def _parabolic(values: torch.Tensor, iy: torch.Tensor, ix: torch.Tensor, axis: int) -> torch.Tensor:
    """Vertex offset (in samples, within ±0.5) of the parabola through the maximum and its two neighbours."""
    n_y, n_x = values.shape[-2:]
    flat = values.flatten(-2)
    if axis == -1:
        lo, hi = iy * n_x + (ix - 1).clamp_min(0), iy * n_x + (ix + 1).clamp_max(n_x - 1)
        edge = (ix == 0) | (ix == n_x - 1)
    else:
        lo, hi = (iy - 1).clamp_min(0) * n_x + ix, (iy + 1).clamp_max(n_y - 1) * n_x + ix
        edge = (iy == 0) | (iy == n_y - 1)
    c = flat.gather(-1, (iy * n_x + ix)[..., None])[..., 0]
    a = flat.gather(-1, lo[..., None])[..., 0]
    b = flat.gather(-1, hi[..., None])[..., 0]
    curvature = a + b - 2.0 * c
    offset = torch.where(curvature < 0, 0.5 * (a - b) / curvature.clamp_max(-1e-30), torch.zeros_like(c))
    return torch.where(edge, torch.zeros_like(offset), offset.clamp(-0.5, 0.5))


__all__ = ["coarse_peaks", "refine_peaks", "hermitian_weights", "COARSE_GRID", "FINAL_STEP_PX"]
