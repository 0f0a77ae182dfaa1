"""Averaged amplitude spectra for CTF estimation, as centred images (origin at index N//2).

Two sources, both giving the square image CTFFIND reads as an amplitude spectrum:

- :func:`movie_spectrum`: RELION's ``_PS.mrc`` from motion correction: the amplitude |F| of
  sums of ``group`` consecutive (unaligned) frames, summed over groups, made square and
  cropped to a pixel size of at least 1.4 Å (CTFFIND's preferred sampling), then resampled
  to ``box`` by Fourier cropping (RELION ``--grouping_for_ps``);
- :func:`tile_spectrum`: CTFFIND's own: the mean power spectrum of ``box``² tiles of a
  micrograph, overlapping by half, square-rooted. Each tile's best plane (mean and linear
  ramp) is removed and its edges are tapered (raised cosine over ``TILE_TAPER`` of each
  side), so that ice gradients and carbon edges do not make the tile's edges a step, which
  would put a bright, broad cross on the spectrum. Tiles of outlying variance (carbon edges,
  contamination, aggregates: robust z-score above ``TILE_OUTLIER_Z``) are left out, as
  CTFFIND/gctf users mask them; their anisotropic power biased the astigmatism angle.
"""

from __future__ import annotations

import math

import torch

from vitreo.em.fourier import centred_spectrum, rescale
from vitreo.preprocess.alignment import taper_window

PS_TARGET_PIXEL = 1.4  # Å; RELION crops the spectrum so its pixel is at least this (CTFFIND 4.1's sampling)
TILE_TAPER = 1.0 / 8  # fraction of each tile side tapered to zero
TILE_OUTLIER_Z = 3.0  # tiles whose variance lies further above the median (robust z-score) are left out
MIN_TILES_TO_SELECT = 16  # fewer tiles are all kept


def movie_spectrum(spectra: torch.Tensor, shape: tuple[int, int], pixel_size: float, group: int,
                   box: int = 512) -> tuple[torch.Tensor, float]:
    """RELION's power spectrum of a movie: ((box, box) centred amplitude spectrum, its pixel size in Å)."""
    n = spectra.shape[0]
    total = torch.zeros(spectra.shape[1:], dtype=spectra.real.dtype, device=spectra.device)
    for start in range(0, n, group):
        total += spectra[start : start + group].sum(0).abs()
    image = centred_spectrum(total, shape)
    side = min(shape)
    if shape[0] != shape[1]:
        image = rescale(image, (side, side))
    ps_pixel = pixel_size
    if pixel_size < PS_TARGET_PIXEL:
        needed = int(math.ceil(side * pixel_size / PS_TARGET_PIXEL))
        needed += needed % 2
        ps_pixel = side * pixel_size / needed
        begin = side // 2 - needed // 2
        image = image[begin : begin + needed, begin : begin + needed]
    return rescale(image, (box, box)), ps_pixel


def tile_spectrum(image: torch.Tensor, box: int) -> torch.Tensor:
    """Square root of the mean power spectrum of half-overlapping ``box``² tiles: (box, box), centred."""
    box = min(box, *(n - n % 2 for n in image.shape[-2:]))
    step = max(1, box // 2)
    tiles = image.unfold(-2, box, step).unfold(-2, box, step).reshape(-1, box, box)
    coordinate = torch.arange(box, dtype=image.dtype, device=image.device) - (box - 1) / 2.0
    norm = coordinate.square().sum() * box
    slope_y = (tiles * coordinate[:, None]).sum(dim=(-2, -1), keepdim=True) / norm
    slope_x = (tiles * coordinate[None, :]).sum(dim=(-2, -1), keepdim=True) / norm
    tiles = tiles - tiles.mean(dim=(-2, -1), keepdim=True) - slope_y * coordinate[:, None] - slope_x * coordinate[None, :]
    tiles = tiles * taper_window((box, box), image.device, image.dtype, TILE_TAPER)
    tiles = tiles[_typical(tiles.square().mean(dim=(-2, -1)))]
    power = torch.zeros((box, box // 2 + 1), dtype=image.dtype, device=image.device)
    for chunk in torch.split(tiles, 64):
        power += torch.fft.rfft2(chunk).abs().square().sum(0)
    return centred_spectrum((power / tiles.shape[0]).sqrt(), (box, box))


def _typical(variance: torch.Tensor) -> torch.Tensor:
    """Tiles (bool mask) whose variance is not an outlier: at most median + ``TILE_OUTLIER_Z`` robust
    standard deviations (1.4826 × MAD) above the median; all of them when fewer than
    ``MIN_TILES_TO_SELECT`` (too few for robust statistics)."""
    if variance.numel() < MIN_TILES_TO_SELECT:
        return torch.ones_like(variance, dtype=torch.bool)
    median = variance.median()
    spread = 1.4826 * (variance - median).abs().median()
    return variance <= median + TILE_OUTLIER_Z * spread


__all__ = ["movie_spectrum", "tile_spectrum", "PS_TARGET_PIXEL", "TILE_OUTLIER_Z"]
