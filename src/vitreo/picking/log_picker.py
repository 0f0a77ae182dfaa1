"""Reference-free picking with Laplacian-of-Gaussian filters, as RELION 3's ``--LoG``.

The normalised micrograph (particles made bright unless they already are) is shrunk to the
resolution ``log_maxres`` and filtered with scale-normalised LoG filters, r²·exp(−r²/2s²)/s² in
Fourier pixels r with s = N·p/(2d), for diameters d: the minimum and maximum particle diameter,
their mean, and RELION's guard sizes min/k and max·k (k = 2 … 5). Each pixel keeps its best
response and diameter; pixels whose best diameter lies outside [min, max] are dropped.
The threshold is mean + ``adjust`` · std of the remaining responses (RELION's "adjust default
threshold"); responses above mean + ``upper`` · std are dropped too (ice, contamination).
Peaks are taken from the strongest down, each removing its neighbours within 1.2 × its
diameter / 2, which is what the iterative suppression in :mod:`peaks` does with per-peak radii.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.fourier import rfft_radius
from vitreo.picking.fft import irfft2
from vitreo.picking.micrograph import PreparedMicrograph
from vitreo.picking.peaks import Peaks, local_maxima, suppress_close

GUARD_FACTORS = (2, 3, 4, 5)  # RELION's LoG_max_search: diameters up to 5× the range, both ways
EXCLUSION = 1.2  # a pick removes neighbours within this × its diameter / 2


@dataclass(frozen=True)
class LogMaps:
    """Best LoG response (W, W) and the diameter (Å) that gave it, on the work grid."""

    fom: torch.Tensor
    diameter: torch.Tensor


def log_diameters(min_diameter: float, max_diameter: float) -> list[float]:
    """The diameters (Å) searched: guards below, the range, guards above (RELION's diams_LoG)."""
    below = [float(round(min_diameter / k)) for k in reversed(GUARD_FACTORS)]
    above = [float(round(max_diameter * k)) for k in GUARD_FACTORS]
    return below + [min_diameter, 0.5 * (min_diameter + max_diameter), max_diameter] + above


def log_maps(micrograph: PreparedMicrograph, diameters: list[float], particles_white: bool) -> LogMaps:
    """Best scale-normalised LoG response over ``diameters`` (Å) at every work pixel."""
    grid = micrograph.grid
    size = grid.work_size
    radius2 = (rfft_radius((size, size), micrograph.spectrum.device) * size).square()  # Fourier pixels²
    spectrum = micrograph.spectrum if particles_white else -micrograph.spectrum
    sigma2 = torch.tensor([(0.5 * grid.size * grid.pixel_size / d) ** 2 for d in diameters],
                          device=radius2.device)[:, None, None]
    responses = irfft2(spectrum * (radius2 * torch.exp(-0.5 * radius2 / sigma2) / sigma2), (size, size))
    best, index = responses.max(0)
    return LogMaps(best, torch.tensor(diameters, device=best.device)[index])


def log_peaks(maps: LogMaps, *, scale: float, shape: tuple[int, int], min_diameter: float, max_diameter: float,
              pixel_size: float, adjust: float, upper: float, skip_side: float) -> Peaks:
    """Picks from LoG maps (see the module docstring); ``skip_side`` in micrograph pixels."""
    ny, nx = shape
    size = maps.fom.shape[-1]
    work = torch.arange(size, device=maps.fom.device, dtype=torch.float32) / scale
    inside = ((work >= skip_side) & (work < ny - skip_side))[:, None] & ((work >= skip_side) & (work < nx - skip_side))[None, :]
    in_range = (maps.diameter >= min_diameter) & (maps.diameter <= max_diameter) & inside
    values = maps.fom[in_range]
    if values.numel() < 2:
        return Peaks(*(np.empty(0) for _ in range(4)), np.empty(0, np.int64))
    mean, std = float(values.mean()), float(values.std())
    kept = in_range & (maps.fom >= mean + adjust * std) & (maps.fom <= mean + upper * std)
    masked = torch.where(kept, maps.fom, torch.full_like(maps.fom, -torch.inf))
    candidate = kept & local_maxima(masked)  # the greedy pass would take a higher neighbour first
    rows, cols = torch.nonzero(candidate, as_tuple=True)
    fom = maps.fom[rows, cols].double().cpu().numpy()
    x, y = (cols.double() / scale).cpu().numpy(), (rows.double() / scale).cpu().numpy()
    radius = EXCLUSION * 0.5 * maps.diameter[rows, cols].double().cpu().numpy() / pixel_size
    keep = suppress_close(x, y, fom, radius)
    return Peaks(x[keep], y[keep], fom[keep], np.zeros(int(keep.sum())), np.zeros(int(keep.sum()), np.int64))


__all__ = ["GUARD_FACTORS", "EXCLUSION", "LogMaps", "log_diameters", "log_maps", "log_peaks"]
