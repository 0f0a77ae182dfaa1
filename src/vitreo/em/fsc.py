"""Fourier shell correlation, resolution read-out and the phase-randomised masked-FSC correction.

Shell i holds the rfft voxels with round(|k|·N) = i (k in cycles per pixel, N the last axis),
for i = 0 (DC) … N//2 (Nyquist), as RELION's getFSC; corners beyond Nyquist are left out.
Shell i has frequency i/(N·pixel_size) 1/Å, i.e. resolution N·pixel_size/i Å. Sums run over the
half (rfft) grid as RELION does. ``ndim`` selects the spatial axes as in :mod:`vitreo.em.filters`.
"""

from __future__ import annotations

import math

import torch

from vitreo.em.backend import randn_like
from vitreo.em.filters import spatial_dims, spatial_shape
from vitreo.em.fourier import rfft_radius, shell_index


def shell_sums(values: torch.Tensor, shells: torch.Tensor, n_shells: int) -> torch.Tensor:
    """Sum ``values`` (..., *grid) over each shell id in ``shells`` (*grid) < n_shells: (..., n_shells)."""
    grid_ndim = shells.dim()
    flat = values.reshape(*values.shape[: values.dim() - grid_ndim], -1)
    ids = shells.reshape(-1)
    keep = ids < n_shells
    flat, ids = flat[..., keep], ids[keep]
    out = flat.new_zeros(*flat.shape[:-1], n_shells)
    return out.index_add_(-1, ids, flat)


def fsc(a: torch.Tensor, b: torch.Tensor, ndim: int | None = None) -> torch.Tensor:
    """FSC between real maps/images a and b (..., *spatial): (..., N//2 + 1), shell 0 = DC.

    FSC_i = Σ Re(A·B*) / √(Σ|A|² · Σ|B|²) over shell i (summed in float64, returned in
    a's dtype); 0 where a shell has no power.
    """
    dims = spatial_dims(a, ndim)
    shape = spatial_shape(a, ndim)
    fa, fb = torch.fft.rfftn(a, dim=dims), torch.fft.rfftn(b, dim=dims)
    shells = shell_index(shape, a.device)
    n_shells = shape[-1] // 2 + 1

    def sums(values: torch.Tensor) -> torch.Tensor:
        return shell_sums(values.double(), shells, n_shells)

    cross = sums((fa * fb.conj()).real)
    power = sums(fa.real.square() + fa.imag.square()) * sums(fb.real.square() + fb.imag.square())
    result = torch.where(power > 0, cross / power.clamp_min(1e-300).sqrt(), torch.zeros_like(cross))
    return result.to(a.dtype)


def shell_resolutions(box: int, pixel_size: float) -> torch.Tensor:
    """Resolution (Å) of each shell 0 … box//2: box·pixel_size/i, inf for shell 0 (float64)."""
    index = torch.arange(box // 2 + 1, dtype=torch.float64)
    return box * pixel_size / index


def first_shell_below(curve: torch.Tensor, threshold: float) -> int:
    """The first shell i ≥ 1 with curve[i] < threshold; len(curve) if it never drops below.

    With threshold 0.8 on the unmasked FSC this is RELION's ``randomize_at`` for post-processing.
    """
    below = (curve[1:] < threshold).nonzero()
    return int(below[0, 0]) + 1 if below.numel() else curve.shape[-1]


def resolution_at(
    curve: torch.Tensor, threshold: float, pixel_size: float, box: int, interpolate: bool = True
) -> float:
    """Resolution (Å) where a 1D FSC curve first falls below ``threshold`` (e.g. 0.143).

    Without interpolation, the resolution of the last shell before the drop (RELION's reported
    rlnFinalResolution); with it, the crossing frequency linearly interpolated between that shell
    and the next (RELION's fractional resolution). A curve that never drops gives Nyquist
    (2·pixel_size for an even box); one that drops at shell 1 without interpolation gives inf.
    """
    i = first_shell_below(curve, threshold)
    if i >= curve.shape[-1]:
        return box * pixel_size / (curve.shape[-1] - 1)
    shell = float(i - 1)
    if interpolate:
        above, below = float(curve[i - 1]), float(curve[i])
        shell += (above - threshold) / (above - below)
    return math.inf if shell <= 0 else box * pixel_size / shell


def crossing_shells(curves: torch.Tensor, threshold: float) -> torch.Tensor:
    """Batched fractional shell (float64, (...)) where curves (..., n_shells) first fall below ``threshold``.

    The shell before the first drop at i ≥ 1 plus the linear interpolation towards shell i, as
    :func:`resolution_at` with interpolation; n_shells − 1 (Nyquist) for curves that never drop.
    Resolution in Å is box·pixel_size/shell (inf for 0).
    """
    values = curves.double()
    below = values < threshold
    below[..., 0] = False
    n_shells = values.shape[-1]
    dropped = below.any(-1)
    first = torch.where(dropped, below.int().argmax(-1), torch.ones_like(dropped, dtype=torch.long))
    above = values.gather(-1, (first - 1).unsqueeze(-1)).squeeze(-1)
    after = values.gather(-1, first.unsqueeze(-1)).squeeze(-1)
    shell = (first - 1) + (above - threshold) / (above - after).clamp_min(1e-12)
    return torch.where(dropped, shell, torch.full_like(shell, n_shells - 1))


def phase_randomise(
    x: torch.Tensor, randomize_at: int, generator: torch.Generator | None = None, ndim: int | None = None
) -> torch.Tensor:
    """x with random Fourier phases where |k|·N ≥ ``randomize_at`` (RELION's randomizePhasesBeyond).

    Amplitudes are kept exactly. The random phases are those of the transform of white noise
    (drawn from ``generator``), so they obey Friedel symmetry and the result is real.
    """
    dims = spatial_dims(x, ndim)
    shape = spatial_shape(x, ndim)
    noise = randn_like(x, generator)
    f = torch.fft.rfftn(x, dim=dims)
    g = torch.fft.rfftn(noise, dim=dims)
    phase = g / g.abs().clamp_min(torch.finfo(x.dtype).tiny)
    randomised = torch.where(
        rfft_radius(shape, x.device, torch.float64) * shape[-1] >= randomize_at, f.abs() * phase, f
    )
    return torch.fft.irfftn(randomised, s=shape, dim=dims)


def corrected_fsc(fsc_masked: torch.Tensor, fsc_random_masked: torch.Tensor, randomize_at: int) -> torch.Tensor:
    """The true FSC of masked maps (Chen et al. 2013), exactly as RELION's post-processing.

    (FSC_masked − FSC_random)/(1 − FSC_random) in shells ≥ randomize_at + 2, FSC_masked below
    (RELION hands over two shells past the randomisation to avoid edge artefacts).
    ``fsc_random_masked`` is the FSC of the masked maps after :func:`phase_randomise` with the
    same ``randomize_at`` (RELION: ``first_shell_below(fsc_unmasked, 0.8)``).
    """
    index = torch.arange(fsc_masked.shape[-1], device=fsc_masked.device)
    denominator = (1.0 - fsc_random_masked).clamp_min(torch.finfo(fsc_masked.dtype).eps)
    corrected = (fsc_masked - fsc_random_masked) / denominator
    return torch.where(index >= randomize_at + 2, corrected, fsc_masked)
