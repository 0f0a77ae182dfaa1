"""Fourier-space grids and tools for the rfft layout (origin at index 0).

Frequencies are in cycles per pixel (Nyquist = 0.5) unless stated otherwise; "shells" and
"Fourier pixels" count in units of 1/N cycles per pixel for a box of N. Arrays are (z, y, x) with
optional leading batch dimensions; the last axis is the half axis of ``torch.fft.rfftn``.
Transforms are unnormalised (``norm="backward"``): the DC term is the sum of the array. Real-space
images and volumes have their centre at index N//2 (RELION's box centre). Low/high-pass and
B-factor filters are in :mod:`vitreo.em.filters`.
"""

from __future__ import annotations

import math

import torch

from vitreo.em.gridding import centred_rfft, extract_slices, negate_frequencies, padded_size, slice_pixels, to_compact


def rfft_frequencies(
    shape: tuple[int, ...], device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Frequency coordinates of an rfft grid: (*rfft_shape, ndim), ordered (..., ky, kx).

    ``shape`` is the real-space shape, e.g. (ny, nx) or (nz, ny, nx); the result has shape
    (ny, nx//2+1, 2) or (nz, ny, nx//2+1, 3), in cycles per pixel.
    """
    axes = [torch.fft.fftfreq(n, device=device, dtype=dtype) for n in shape[:-1]]
    axes.append(torch.fft.rfftfreq(shape[-1], device=device, dtype=dtype))
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def rfft_radius(
    shape: tuple[int, ...], device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """|k| on an rfft grid (*rfft_shape), in cycles per pixel."""
    ndim = len(shape)
    r2 = torch.zeros((1,) * ndim, device=device, dtype=dtype)
    for axis, n in enumerate(shape):
        freq = torch.fft.rfftfreq if axis == ndim - 1 else torch.fft.fftfreq
        r2 = r2 + freq(n, device=device, dtype=dtype).square().reshape((-1,) + (1,) * (ndim - 1 - axis))
    return r2.sqrt()


def shell_index(shape: tuple[int, ...], device: torch.device | str | None = None) -> torch.Tensor:
    """Integer Fourier shell of each rfft voxel: round(|k| · N), N = shape[-1] (int64)."""
    return torch.round(rfft_radius(shape, device, torch.float64) * shape[-1]).long()


def rfft_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of the rfft of a real array of ``shape``."""
    return (*shape[:-1], shape[-1] // 2 + 1)


def _real_dims(ndim: int) -> tuple[int, ...]:
    return tuple(range(-ndim, 0))


# --- resampling -------------------------------------------------------------------------------


def _resize_full_axis(f: torch.Tensor, dim: int, n: int, m: int) -> torch.Tensor:
    """Crop or zero-pad a full frequency axis n -> m, splitting (pad) or folding (crop) Nyquist."""
    size = list(f.shape)
    size[dim] = m
    out = f.new_zeros(size)
    k = min(n, m)
    pos, neg = (k + 1) // 2, k // 2
    out.narrow(dim, 0, pos).copy_(f.narrow(dim, 0, pos))
    out.narrow(dim, m - neg, neg).copy_(f.narrow(dim, n - neg, neg))
    if k % 2 == 0 and m > n:  # the old Nyquist bin -n/2 is shared half/half by ±n/2
        out.narrow(dim, m - neg, 1).mul_(0.5)
        out.narrow(dim, neg, 1).copy_(out.narrow(dim, m - neg, 1))
    elif k % 2 == 0 and m < n:  # the new Nyquist bin -m/2 also receives the old +m/2
        out.narrow(dim, m - neg, 1).add_(f.narrow(dim, neg, 1))
    return out


def _resize_half_axis(f: torch.Tensor, ndim: int, n: int, m: int) -> torch.Tensor:
    """Crop or zero-pad the rfft (last) axis n -> m with the same Nyquist rule (mates are implicit)."""
    if m > n:
        out = torch.nn.functional.pad(f, (0, m // 2 - n // 2))
        if n % 2 == 0:
            out[..., n // 2] *= 0.5
        return out
    out = f[..., : m // 2 + 1].clone()
    if m % 2 == 0 and m < n:
        mate = negate_frequencies(f[..., m // 2], tuple(range(-(ndim - 1), 0)))
        out[..., m // 2] += mate.conj()
    return out


def fourier_resize(values: torch.Tensor, shape: tuple[int, ...], new_shape: tuple[int, ...]) -> torch.Tensor:
    """Crop or zero-pad rfft data (..., *rfft_shape(shape)) to (..., *rfft_shape(new_shape)).

    Keeps frequencies |k| (in Fourier pixels) common to both grids, without rescaling values.
    Nyquist bins of even sizes are split between ±N/2 when padding and folded when cropping, so
    cropping undoes padding exactly and padded spectra stay Hermitian.
    """
    ndim = len(shape)
    out = _resize_half_axis(values, ndim, shape[-1], new_shape[-1])
    for d in range(ndim - 1):
        if shape[d] != new_shape[d]:
            out = _resize_full_axis(out, d - ndim, shape[d], new_shape[d])
    return out


def rescale(x: torch.Tensor, new_shape: tuple[int, ...]) -> torch.Tensor:
    """Resample real arrays (..., *shape) to (..., *new_shape) by Fourier cropping/padding.

    The field of view is kept, so the pixel size becomes pixel_size · shape/new_shape; values
    keep their scale (the mean is preserved).
    """
    ndim = len(new_shape)
    shape = tuple(x.shape[-ndim:])
    dims = _real_dims(ndim)
    f = fourier_resize(torch.fft.rfftn(x, dim=dims), shape, new_shape)
    return torch.fft.irfftn(f, s=new_shape, dim=dims) * (math.prod(new_shape) / math.prod(shape))


# --- shifts -----------------------------------------------------------------------------------


def shift_phases(shifts: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Phase factors exp(-2πi k·d) on the rfft grid of ``shape`` -> (..., *rfft_shape) complex.

    ``shifts`` (..., ndim) are real-space shifts in pixels ordered (dx, dy[, dz]); multiplying
    a transform by the result shifts its array by +d (as ``torch.roll`` for integer d).
    """
    ndim = len(shape)
    batch = shifts.shape[:-1]
    phases = None
    for axis, n in enumerate(shape):
        freq = torch.fft.rfftfreq if axis == ndim - 1 else torch.fft.fftfreq
        k = freq(n, device=shifts.device, dtype=shifts.dtype)
        angle = (-2.0 * math.pi) * shifts[..., ndim - 1 - axis, None] * k
        factor = torch.polar(torch.ones_like(angle), angle)
        view = (*batch, *([1] * axis), k.numel(), *([1] * (ndim - 1 - axis)))
        factor = factor.reshape(view)
        phases = factor if phases is None else phases * factor
    return phases


def phase_shift(values: torch.Tensor, shifts: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Shift transforms (..., *rfft_shape) by real-space shifts (..., ndim) pixels (dx, dy[, dz])."""
    return values * shift_phases(shifts.to(values.real.dtype), shape)


# --- radial profiles --------------------------------------------------------------------------


def _hermitian_multiplicity(
    shape: tuple[int, ...], device: torch.device | str | None, dtype: torch.dtype
) -> torch.Tensor:
    """How many full-grid voxels each rfft voxel stands for (2 except the kx = 0 and Nyquist planes)."""
    nx = shape[-1]
    m = torch.full((nx // 2 + 1,), 2.0, device=device, dtype=dtype)
    m[0] = 1.0
    if nx % 2 == 0:
        m[-1] = 1.0
    return m.expand(rfft_shape(shape))


def radial_average(values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Mean over full-grid Fourier shells of rfft data (..., *rfft_shape) -> (..., N//2+1).

    Shell s holds voxels with round(|k|·N) = s, N = shape[-1]; corners beyond Nyquist are
    dropped. Each rfft voxel counts for itself and its implicit Friedel mate.
    """
    ndim = len(shape)
    n_shells = shape[-1] // 2 + 1
    real_dtype = values.real.dtype
    shells = shell_index(shape, values.device).reshape(-1)
    keep = torch.nonzero(shells < n_shells).squeeze(-1)
    shells = shells[keep]
    mult = _hermitian_multiplicity(shape, values.device, real_dtype).reshape(-1)[keep]
    flat = values.reshape(*values.shape[: values.dim() - ndim], -1)[..., keep] * mult
    sums = flat.new_zeros((*flat.shape[:-1], n_shells)).index_add_(-1, shells, flat)
    counts = torch.zeros(n_shells, device=values.device, dtype=real_dtype).index_add_(0, shells, mult)
    return sums / counts


def power_spectrum(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Rotationally averaged |F|² of real arrays (..., *shape) -> (..., N//2+1).

    Unnormalised DFT: white noise of variance σ² gives σ² · prod(shape) in every shell.
    """
    shape = tuple(x.shape[-ndim:])
    return radial_average(torch.fft.rfftn(x, dim=_real_dims(ndim)).abs().square(), shape)


# --- rotation and display ---------------------------------------------------------------------


def rotation_matrix_2d(angles: torch.Tensor) -> torch.Tensor:
    """Matrices R(θ) = [[cos θ, -sin θ], [sin θ, cos θ]] (..., 2, 2) for angles (...) in radians."""
    c, s = torch.cos(angles), torch.sin(angles)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def rotate_rfft(values: torch.Tensor, angles: torch.Tensor, padding: float = 2.0) -> torch.Tensor:
    """Rotate images, given as rfft (B, N, N//2+1), by angles (B,) radians about the centre N//2.

    Content moves from +x towards +y: out(r) = in(R(θ)ᵀ r), i.e. F_out(k) = F_in(R(θ)ᵀ k).
    Each image is padded in real space (``padding``), gridding-corrected and interpolated
    linearly on its rfft grid with Friedel symmetry; frequencies beyond N/2 are zeroed.
    """
    n = values.shape[-2]
    padded = padded_size(n, padding)
    images = torch.fft.irfftn(values, s=(n, n), dim=(-2, -1))
    compact = to_compact(centred_rfft(images, 2, padded), 2)
    pixels = slice_pixels(n, device=values.device, dtype=images.dtype)
    rotations = rotation_matrix_2d(angles.to(device=values.device, dtype=images.dtype))
    return extract_slices(compact, 2, rotations, pixels, padded / n)


def centred_spectrum(values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Full grid (..., *shape) with the origin at index N//2, from rfft data: for display only."""
    ndim = len(shape)
    nx = shape[-1]
    full_dims = tuple(range(-ndim, -1))
    mates = negate_frequencies(values, full_dims)
    mates = mates.conj() if mates.is_complex() else mates
    missing = nx - values.shape[-1]  # kx = -1 ... -(missing): mates of kx = 1 ... missing
    full = torch.cat([values, mates[..., 1 : missing + 1].flip(-1)], dim=-1)
    return torch.fft.fftshift(full, dim=_real_dims(ndim))
