"""The pixels of a centred amplitude spectrum that CTF fitting uses, and its radial profiles.

A spectrum is an N×N image with the origin at (N//2, N//2), row index along ky and column
index along kx of the micrograph (y, x) it came from; its pixel size p (Å) gives spatial
frequencies s = |k| / (N·p) in 1/Å and azimuths α = atan2(ky, kx) (radians, from +x
towards +y), the angles of RELION's rlnDefocusAngle. Only half the plane is used (the
spectrum is centro-symmetric), and the central cross |kx| ≤ 1 or |ky| ≤ 1 is left out
(tile edges and detector read-out put artefacts there). Streaks through the origin (the
spectrum of a straight carbon edge, a broadened cross) are found as azimuths whose mean power
over the band stands out (robust z-score above ``STREAK_Z``) and left out too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

CROSS_HALF_WIDTH = 1.0  # Fourier pixels on either side of the axes left out of the fit
STREAK_Z = 4.0  # robust z-score of an azimuth's mean relative power that marks a streak
AZIMUTH_BINS = 180  # 1° bins over the half plane


@dataclass(frozen=True)
class SpectrumGrid:
    """Per-pixel frequency coordinates of a centred N×N spectrum: radius (Fourier px), s² (1/Å²),
    azimuth (rad), each (N, N) float64, and masks of the usable half plane."""

    box: int
    pixel_size: float
    radius: torch.Tensor
    s2: torch.Tensor
    azimuth: torch.Tensor
    half_plane: torch.Tensor

    @classmethod
    def make(cls, box: int, pixel_size: float, device: torch.device | str | None = None) -> SpectrumGrid:
        k = torch.arange(box, device=device, dtype=torch.float64) - box // 2
        ky, kx = k[:, None].expand(box, box), k[None, :].expand(box, box)
        radius = torch.sqrt(kx * kx + ky * ky)
        off_cross = (kx.abs() > CROSS_HALF_WIDTH) & (ky.abs() > CROSS_HALF_WIDTH)
        half = ((ky > 0) | ((ky == 0) & (kx > 0))) & off_cross
        return cls(box, pixel_size, radius, (radius / (box * pixel_size)) ** 2, torch.atan2(ky, kx), half)

    def frequency(self, radius: torch.Tensor | float) -> torch.Tensor | float:
        """Spatial frequency (1/Å) of a radius in Fourier pixels."""
        return radius / (self.box * self.pixel_size)

    def radius_of(self, resolution: float) -> float:
        """Radius (Fourier px) of a resolution (Å)."""
        return self.box * self.pixel_size / resolution

    def band(self, r_min: float, r_max: float) -> torch.Tensor:
        """Mask of the usable half-plane pixels with r_min ≤ radius ≤ r_max."""
        return self.half_plane & (self.radius >= r_min) & (self.radius <= r_max)

    @property
    def n_bins(self) -> int:
        """Radial bins up to the corner, as CTFFIND's 1D profiles (int(N/2·√2) + 1)."""
        return int(self.box / 2 * math.sqrt(2.0)) + 1


def streak_mask(spectrum: torch.Tensor, grid: SpectrumGrid, band: torch.Tensor) -> torch.Tensor:
    """Pixels of ``band`` (N, N) lying on streaks through the origin (see the module docstring),
    with one azimuth bin of margin on each side."""
    profile, _ = radial_profile(spectrum, grid.radius, grid.n_bins, band)
    relative = spectrum / profile[torch.round(grid.radius).long().clamp(0, grid.n_bins - 1)].clamp_min(1e-300) - 1.0
    bins = torch.floor(torch.rad2deg(grid.azimuth) % 180.0 * AZIMUTH_BINS / 180.0).long() % AZIMUTH_BINS
    mean, _ = radial_profile(relative, bins.to(relative.dtype), AZIMUTH_BINS, band)
    median = mean.median()
    spread = 1.4826 * (mean - median).abs().median().clamp_min(1e-12)
    bad = (mean - median) / spread > STREAK_Z
    bad = bad | bad.roll(1) | bad.roll(-1)
    return band & bad[bins]


def radial_profile(values: torch.Tensor, bins: torch.Tensor, n_bins: int, mask: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values`` per integer bin (rounded ``bins``), and the pixel count per bin: each (n_bins,)."""
    index = torch.round(bins).long().clamp(0, n_bins - 1).reshape(-1)
    weight = torch.ones_like(values).reshape(-1) if mask is None else mask.reshape(-1).to(values.dtype)
    sums = torch.zeros(n_bins, dtype=values.dtype, device=values.device).index_add_(0, index, values.reshape(-1) * weight)
    counts = torch.zeros(n_bins, dtype=values.dtype, device=values.device).index_add_(0, index, weight)
    return sums / counts.clamp_min(1.0), counts


__all__ = ["SpectrumGrid", "radial_profile", "streak_mask", "CROSS_HALF_WIDTH", "STREAK_Z"]
