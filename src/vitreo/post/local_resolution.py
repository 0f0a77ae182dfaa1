"""Local resolution by RELION's own method (relion_postprocess --locres), batched over positions.

A soft sphere (radius ``mask_radius``, raised-cosine edge ``edge_width``) is centred on every
point of a cubic grid with spacing ``sampling`` (Å) about the box centre N//2, within
N/2 − radius pixels of it. At each point the two half-maps, and their copies with phases
randomised beyond ``randomise_from`` Å, are multiplied by the sphere; their FSCs give the
phase-randomisation-corrected local FSC, and the local resolution is where it falls below 0.143
(interpolated between shells; never worse than ``lowest_resolution``). The local
resolution map is the mask-weighted harmonic mean of the local resolutions of the spheres
covering each voxel. The locally filtered map is the mask-weighted mean of copies of the
average half-map, divided by the MTF, sharpened with a user B-factor, weighted by each local
FSC (√(2·FSC/(1+FSC))) and low-pass filtered at each local resolution (RELION's raised-cosine
edge of 2 shells, evaluated per shell).

Unlike RELION, which computes each local FSC on the whole box, the FSCs are computed on a
window of M = 2·(radius + edge) + 2 pixels around each point (the masked map is zero outside
it, so it holds the same information at a coarser shell spacing, read out with interpolation);
many windows go through one batched FFT. Positions and voxels are (z, y, x) indices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.filters import bfactor_response
from vitreo.em.fourier import shell_index
from vitreo.em.fsc import corrected_fsc, crossing_shells, fsc, phase_randomise
from vitreo.em.masks import centred_radius, raised_cosine_edge
from vitreo.post.sharpening import fsc_weights, lowpass_shells, mtf_response

FSC_THRESHOLD = 0.143


@dataclass(frozen=True)
class LocalResolutionSettings:
    """relion_postprocess --locres options (Å, Å²); radius ≤ 0 means sampling/2, edge ≤ 0 means sampling."""

    sampling: float = 25.0
    mask_radius: float = -1.0
    edge_width: float = -1.0
    randomise_from: float = 25.0
    lowest_resolution: float = 50.0
    bfactor: float = 0.0
    mtf: tuple[np.ndarray, np.ndarray] | None = None
    mtf_pixel_size: float = -1.0
    seed: int = 0
    memory_bytes: int = 1 << 29


@dataclass
class LocalResolutionResult:
    """The local resolution map (Å; 0 where no sphere reached), the locally filtered map, and per position values."""

    resolution_map: torch.Tensor
    filtered: torch.Tensor
    positions: torch.Tensor
    resolutions: torch.Tensor


def _round(value: float) -> int:
    return int(math.floor(value + 0.5))  # RELION's ROUND for positive values


def sampling_positions(box: int, step: int, mask_radius: int) -> torch.Tensor:
    """Grid points (P, 3) (z, y, x indices) every ``step`` voxels from −N/2, within N/2 − radius of the centre."""
    axis = torch.arange(-(box // 2), box - box // 2, step)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    inside = grid.double().square().sum(-1).sqrt() < box // 2 - mask_radius
    return grid[inside] + box // 2


def local_positions(box: int, pixel_size: float, settings: LocalResolutionSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampling points (P, 3) and the soft sphere on its M³ window (radius, edge and step rounded to pixels)."""
    step = max(1, _round(settings.sampling / pixel_size))
    radius = _round((settings.mask_radius if settings.mask_radius > 0 else 0.5 * settings.sampling) / pixel_size)
    edge = _round((settings.edge_width if settings.edge_width > 0 else settings.sampling) / pixel_size)
    positions = sampling_positions(box, step, radius)
    if len(positions) == 0:
        raise ValueError(f"no sampling point fits: the local mask radius ({radius} px) is too large for box {box}")
    size = 2 * (radius + edge) + 2
    return positions, raised_cosine_edge(centred_radius((size,) * 3) - radius, edge)


class _Windows:
    """Flat indices of the M³ windows centred on positions in an N³ box, and which of their voxels lie inside it."""

    def __init__(self, positions: torch.Tensor, box: int, size: int) -> None:
        coords = positions[:, :, None] + (torch.arange(size) - size // 2)  # (P, 3, M)
        inside = (coords >= 0) & (coords < box)
        coords = coords.clamp(0, box - 1)
        z, y, x = coords[:, 0, :, None, None], coords[:, 1, None, :, None], coords[:, 2, None, None, :]
        self.index = (z * box * box + y * box + x).reshape(len(positions), -1)
        self.inside = (inside[:, 0, :, None, None] & inside[:, 1, None, :, None] & inside[:, 2, None, None, :])
        self.inside = self.inside.reshape(len(positions), -1)
        self.shape = (len(positions), size, size, size)
        self.starts = positions - size // 2

    def take(self, volume: torch.Tensor) -> torch.Tensor:
        """Windows of one volume (N³) -> (P, M, M, M), zero outside the box."""
        return (volume.reshape(-1)[self.index] * self.inside).reshape(self.shape)

    def add_to(self, target: torch.Tensor, values: torch.Tensor) -> None:
        """Add windows (P, M, M, M) into the flat volume ``target`` (N³), dropping voxels outside the box."""
        target.index_add_(0, self.index.reshape(-1), (values.reshape(self.index.shape) * self.inside).reshape(-1))


def local_resolution(
    half1: torch.Tensor, half2: torch.Tensor, pixel_size: float,
    settings: LocalResolutionSettings = LocalResolutionSettings(),
    advance: Callable[[int], None] | None = None,
) -> LocalResolutionResult:
    """RELION's local resolution of two (N, N, N) half-maps (see the module docstring).

    ``advance(n)`` is called as positions are done, twice per position (local FSC, then filtering).
    """
    shape = tuple(half1.shape)
    box = shape[-1]
    positions, sphere = local_positions(box, pixel_size, settings)
    positions, sphere = positions.to(half1.device), sphere.to(half1.device, half1.dtype)
    size = sphere.shape[-1]
    batch = max(1, settings.memory_bytes // (48 * size**3))
    local_fsc = _local_fscs(half1, half2, positions, sphere, pixel_size, settings, batch, advance)
    shell = crossing_shells(local_fsc, FSC_THRESHOLD)
    resolutions = (size * pixel_size / shell.clamp_min(1e-6)).clamp_max(settings.lowest_resolution)

    shells = torch.arange(box // 2 + 1, dtype=torch.float64, device=half1.device)
    cutoff = lowpass_shells(resolutions, pixel_size, box).reshape(-1, 1)
    tables = fsc_weights(_resample_shells(local_fsc, box)) * raised_cosine_edge(shells - (cutoff - 1.0), 2.0)
    spectrum = _CroppedSpectrum(_sharpened_transform(0.5 * (half1 + half2), pixel_size, settings),
                                int(cutoff.max()) + 1)
    totals = torch.zeros((3, half1.numel()), dtype=torch.float64, device=half1.device)  # filtered, 1/res, weight
    batch = max(1, settings.memory_bytes // (16 * spectrum.values.numel()))
    for start in range(0, len(positions), batch):
        rows = slice(start, start + batch)
        windows = _Windows(positions[rows], box, size)
        weights = sphere.double().expand(windows.shape)
        windows.add_to(totals[0], spectrum.windows(tables[rows].to(half1.dtype), windows.starts, size).double()
                       * weights)
        windows.add_to(totals[1], weights / resolutions[rows].reshape(-1, 1, 1, 1))
        windows.add_to(totals[2], weights)
        if advance is not None:
            advance(len(windows.starts))
    covered = totals[2] > 0
    weight = totals[2].clamp_min(1e-300)
    resolution_map = torch.where(covered, weight / totals[1].clamp_min(1e-300), torch.zeros_like(weight))
    filtered_map = torch.where(covered, totals[0] / weight, torch.zeros_like(weight))
    return LocalResolutionResult(resolution_map.reshape(shape).to(half1.dtype),
                                 filtered_map.reshape(shape).to(half1.dtype), positions.cpu(), resolutions.cpu())


def _local_fscs(
    half1: torch.Tensor, half2: torch.Tensor, positions: torch.Tensor, sphere: torch.Tensor, pixel_size: float,
    settings: LocalResolutionSettings, batch: int, advance: Callable[[int], None] | None,
) -> torch.Tensor:
    """The corrected FSC (P, M//2+1) of the half-maps within the sphere at each position (float64)."""
    box, size = half1.shape[-1], sphere.shape[-1]
    randomise_at = max(1, int(box * pixel_size / settings.randomise_from))
    generator = torch.Generator(device=half1.device).manual_seed(settings.seed)
    maps = torch.stack([half1, phase_randomise(half1, randomise_at, generator),
                        half2, phase_randomise(half2, randomise_at, generator)])
    curves = []
    for start in range(0, len(positions), batch):
        windows = _Windows(positions[start:start + batch], box, size)
        taken = torch.stack([windows.take(volume) for volume in maps]) * sphere  # (4, B, M, M, M)
        masked, random = fsc(taken[:2], taken[2:], ndim=3).double()
        for curve in (masked, random):
            curve[:, 0] = torch.where(curve[:, 0] <= 0, torch.ones_like(curve[:, 0]), curve[:, 0])
        curves.append(corrected_fsc(masked, random, math.ceil(randomise_at * size / box)))
        if advance is not None:
            advance(len(masked))
    return torch.cat(curves)


def _sharpened_transform(average: torch.Tensor, pixel_size: float, settings: LocalResolutionSettings) -> torch.Tensor:
    """rfftn of the average map divided by the MTF and multiplied by exp(−B s²/4)."""
    shape = tuple(average.shape)
    transform = torch.fft.rfftn(average)
    if settings.mtf is not None:
        mtf_pixel = settings.mtf_pixel_size if settings.mtf_pixel_size > 0 else pixel_size
        transform = transform / mtf_response(settings.mtf, shape, pixel_size, mtf_pixel, average.device)
    if settings.bfactor != 0:
        transform = transform * bfactor_response(shape, settings.bfactor, pixel_size, average.device, average.dtype)
    return transform


class _CroppedSpectrum:
    """An rfft (N, N, N//2+1) cropped to |k| ≤ max_shell along each axis, for windowed inverse transforms."""

    def __init__(self, transform: torch.Tensor, max_shell: int) -> None:
        box = transform.shape[-2]
        kmax = min(max_shell, box // 2)
        device = transform.device
        full = torch.cat([torch.arange(0, kmax + 1), torch.arange(box - kmax, box)]).unique().to(device)
        self.half = torch.arange(0, kmax + 1, device=device)
        self.values = transform[full][:, full][:, :, self.half]
        self.shells = shell_index((box, box, box), device)[full][:, full][:, :, self.half]
        self.frequency = torch.fft.fftfreq(box, 1.0 / box, device=device)[full]
        self.box = box

    def windows(self, tables: torch.Tensor, starts: torch.Tensor, size: int) -> torch.Tensor:
        """Windows (B, M, M, M) of irfftn(transform · tables[b][shell]), tables (B, N//2+1) zero from max_shell.

        Window b holds voxels starts[b] + (0 … M−1) along (z, y, x), wrapping around the box; the
        inverse transform is computed at those voxels only, as matrix products over z, then y,
        then the Hermitian half axis x.
        """
        box, dtype = self.box, tables.dtype
        values = self.values * torch.nn.functional.pad(tables, (0, 1))[:, self.shells.clamp_max(tables.shape[-1])]
        offsets = torch.arange(size, device=tables.device)

        def phases(axis: int, k: torch.Tensor) -> torch.Tensor:  # (B, M, K): exp(2πi k·x/N)
            x = ((starts[:, axis, None] + offsets) % box).to(dtype)
            angle = (2 * math.pi / box) * x[:, :, None] * k.to(dtype)
            return torch.polar(torch.ones_like(angle), angle)

        batch, nz, ny, nx = values.shape
        out = torch.bmm(phases(0, self.frequency), values.reshape(batch, nz, ny * nx)).reshape(batch, size, ny, nx)
        out = torch.matmul(phases(1, self.frequency)[:, None], out)  # (B, M, M, nx)
        hermitian = torch.where((self.half == 0) | (2 * self.half == box), 1.0, 2.0).to(dtype)
        out = torch.matmul(out.reshape(batch, size * size, nx), (phases(2, self.half) * hermitian).transpose(1, 2))
        return out.real.reshape(batch, size, size, size) / box**3


def _resample_shells(curves: torch.Tensor, box: int) -> torch.Tensor:
    """Curves on the shells of an M-pixel window (..., M//2+1) read at the shells of the N box (..., N//2+1)."""
    n_window = curves.shape[-1] - 1
    position = torch.arange(box // 2 + 1, dtype=torch.float64, device=curves.device) * (2 * n_window / box)
    low = position.floor().long().clamp_max(n_window)
    high = (low + 1).clamp_max(n_window)
    fraction = (position - low).clamp(0.0, 1.0)
    return curves[..., low] * (1 - fraction) + curves[..., high] * fraction


__all__ = ["LocalResolutionSettings", "LocalResolutionResult", "sampling_positions", "local_positions",
           "local_resolution"]
