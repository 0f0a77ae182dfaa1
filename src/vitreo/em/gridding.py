"""Linear interpolation on padded Fourier grids, shared by projection, insertion and rotation.

A *padded Fourier grid* is the rfft of a cubic real-space array (box ``size``, centre at index
``size // 2``) that was divided by the apodisation of linear interpolation, zero-padded to an even
box ``padded`` with the centre at ``padded // 2``, and moved so that the centre is at index 0.
Interpolating it therefore yields the transform of the *centred* array (smooth in k).

For interpolation the grid is kept in a *compact* layout: every full (non-half) axis is fftshifted
(frequency f at index f + padded/2) and extended by two planes that repeat its first two, and the
half axis gets one extra zero plane. Every linear-interpolation neighbour of a frequency |p| ≤
padded/2 is then in bounds without modular arithmetic. Points with p_x < 0 are read from the
Friedel mate -p and conjugated.

Coordinates are (x, y[, z]) in padded-grid frequency units; arrays are (z, y, x).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import torch

#: Default bound on (slices × pixels × corners) handled at once; about 25 MB of temporaries.
CHUNK_ELEMENTS = 1 << 20


def padded_size(size: int, padding: float) -> int:
    """Even padded box for ``size`` pixels and padding factor ``padding`` (≥ 1)."""
    if padding < 1:
        raise ValueError(f"padding factor must be >= 1, got {padding}")
    n = int(round(size * padding))
    return n + n % 2


def linear_apodisation(
    size: int, ndim: int, padded: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Real-space transfer of linear interpolation on a ``padded`` grid: Π_d sinc²(x_d / padded).

    x_d = i - size // 2 in pixels, sinc(t) = sin(πt)/(πt). Shape (size,) * ndim.
    """
    x = torch.arange(size, device=device, dtype=dtype) - size // 2
    s = torch.sinc(x / padded) ** 2
    out = torch.ones((1,) * ndim, device=device, dtype=dtype)
    for d in range(ndim):
        out = out * s.reshape((size,) + (1,) * (ndim - 1 - d))
    return out


def centred_rfft(x: torch.Tensor, ndim: int, padded: int) -> torch.Tensor:
    """Padded Fourier grid of cubic real arrays x (..., size^ndim), in rfft layout (..., padded^ndim half)."""
    size = x.shape[-1]
    if any(n != size for n in x.shape[-ndim:]) or size % 2:
        raise ValueError(f"expected an even cubic box in the last {ndim} axes, got {tuple(x.shape)}")
    dims = tuple(range(-ndim, 0))
    x = x / linear_apodisation(size, ndim, padded, x.device, x.dtype)
    before = padded // 2 - size // 2
    x = torch.nn.functional.pad(x, (before, padded - size - before) * ndim)
    return torch.fft.rfftn(torch.fft.ifftshift(x, dim=dims), dim=dims)


def centred_irfft(grid: torch.Tensor, ndim: int, size: int) -> torch.Tensor:
    """Inverse of :func:`centred_rfft`: rfft-layout grid (..., padded^ndim half) -> (..., size^ndim).

    Includes the gridding post-correction (division by the linear-interpolation apodisation).
    """
    padded = grid.shape[-2] if ndim > 1 else 2 * (grid.shape[-1] - 1)
    dims = tuple(range(-ndim, 0))
    x = torch.fft.fftshift(torch.fft.irfftn(grid, s=(padded,) * ndim, dim=dims), dim=dims)
    start = padded // 2 - size // 2
    for d in dims:
        x = x.narrow(d, start, size)
    return x / linear_apodisation(size, ndim, padded, x.device, x.dtype)


def _full_dims(ndim: int) -> tuple[int, ...]:
    return tuple(range(-ndim, -1))


def to_compact(grid: torch.Tensor, ndim: int) -> torch.Tensor:
    """rfft layout (..., padded^ndim half) -> compact layout (..., (padded+2)^(ndim-1), padded/2+2)."""
    for d in _full_dims(ndim):
        grid = torch.fft.fftshift(grid, dim=d)
        grid = torch.cat([grid, grid.narrow(d, 0, 2)], dim=d)
    return torch.nn.functional.pad(grid, (0, 1))


def from_compact(compact: torch.Tensor, ndim: int) -> torch.Tensor:
    """Fold an accumulated compact grid back to rfft layout (wrap planes added, extra x plane dropped)."""
    grid = compact.narrow(-1, 0, compact.shape[-1] - 1)
    for d in _full_dims(ndim):
        padded = grid.shape[d] - 2
        main = grid.narrow(d, 0, padded).clone()
        main.narrow(d, 0, 2).add_(grid.narrow(d, padded, 2))
        grid = torch.fft.ifftshift(main, dim=d)
    return grid


def to_accumulator(grid: torch.Tensor, ndim: int) -> torch.Tensor:
    """rfft layout -> compact layout with empty wrap planes: the inverse of :func:`from_compact`
    (a grid to accumulate into, not to interpolate from)."""
    grid = torch.fft.fftshift(grid, dim=_full_dims(ndim))
    return torch.nn.functional.pad(grid, (0, 1) + (0, 2) * (ndim - 1))


def negate_frequencies(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Re-index x so that index i along each of ``dims`` holds the value at -i (mod n)."""
    if not dims:
        return x
    return torch.roll(torch.flip(x, dims), (1,) * len(dims), dims)


@dataclass(frozen=True)
class SlicePixels:
    """The rfft pixels of an M×M image within a Fourier radius, and their centring signs."""

    size: int  #: image box M
    coords: torch.Tensor  #: (P, 2) frequencies (kx, ky) in Fourier pixels of the image
    index: torch.Tensor  #: (P,) flat index into (M, M//2+1)
    sign: torch.Tensor  #: (P,) (-1)^(kx+ky): rfft of an image centred at M//2 <-> centred transform


def slice_pixels(
    size: int,
    max_radius: float | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> SlicePixels:
    """Pixels of the (size, size//2+1) rfft grid with |k| ≤ max_radius (default size//2), in Fourier pixels."""
    radius = size // 2 if max_radius is None else max_radius
    ky = torch.fft.fftfreq(size, 1.0 / size, device=device, dtype=dtype)
    kx = torch.arange(size // 2 + 1, device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ky, kx, indexing="ij")
    inside = (grid_x**2 + grid_y**2 <= radius**2).reshape(-1)
    index = torch.nonzero(inside).squeeze(-1)
    coords = torch.stack([grid_x.reshape(-1)[index], grid_y.reshape(-1)[index]], dim=-1)
    return SlicePixels(size, coords, index, centring_sign(coords))


def centring_sign(coords: torch.Tensor) -> torch.Tensor:
    """(−1)^(kx+ky) (P,) for integer frequencies ``coords`` (P, 2): the factor between the rfft of
    an image centred at M//2 and that of the same image centred at 0 (any even M)."""
    parity = (coords[:, 0] + coords[:, 1]).round().long() % 2
    return (1 - 2 * parity).to(coords.dtype)


def slice_stencil(
    pixels: SlicePixels, rotations: torch.Tensor, scale: float, compact_shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear-interpolation stencil of the points scale · Aᵀ(kx, ky[, 0]) on a compact grid.

    For rotations A (B, D, D) and P pixels, returns flat neighbour indices (2^D, B, P) int64,
    their weights (2^D, B, P), and a mask (B, P) of points read from their Friedel mate (values
    there must be conjugated); see :func:`point_stencil`.
    """
    k = (pixels.coords * scale).T.contiguous()  # (2, P)
    axes = torch.matmul(rotations[:, :2, :].transpose(1, 2), k).unbind(1)  # D × (B, P)
    return point_stencil(axes, compact_shape)


def point_stencil(
    axes: tuple[torch.Tensor, ...], compact_shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear-interpolation stencil on a compact grid of the points with coordinates ``axes``
    (x, y[, z]), each of the same shape S, in grid frequency units.

    Returns flat neighbour indices (2^D, *S) int64, their weights (2^D, *S), and a mask S of points
    read from their Friedel mate (values there must be conjugated). Corner-major planes keep every
    operation on contiguous data. Coordinates are clamped to the stored range |p_d| ≤ padded/2.
    """
    base, factors, flip, strides = _lower_corners(axes, compact_shape)
    weights = list(factors[-1])
    for low, high in reversed(factors[:-1]):  # corners ordered (bz, by, bx), bx fastest
        weights = [w * f for w in weights for f in (low, high)]
    offsets = [
        sum(b * s for b, s in zip(bits, reversed(strides))) for bits in itertools.product((0, 1), repeat=len(axes))
    ]
    index = base.unsqueeze(0) + torch.tensor(offsets, device=base.device).view((-1,) + (1,) * base.dim())
    return index, torch.stack(weights), flip


def _lower_corners(
    axes: tuple[torch.Tensor, ...], compact_shape: tuple[int, ...]
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor, list[int]]:
    """Flat index of each point's lower interpolation corner, the (1 − f, f) weights per axis
    (x, y[, z]), the Friedel mask and the flat strides of x, y[, z] (see :func:`point_stencil`)."""
    half = compact_shape[-1] - 2  # padded / 2
    flip = axes[0] < 0
    sign = 1.0 - 2.0 * flip.to(axes[0].dtype)
    strides = [1]
    for n in reversed(compact_shape[1:]):
        strides.append(strides[-1] * n)  # strides of x, y, z
    base, factors = None, []
    for d, c in enumerate(axes):
        c = c * sign
        if d:
            c.add_(half)
        c.clamp_(0.0, float(half if d == 0 else 2 * half))
        lower = c.floor()
        frac = c.sub_(lower)
        term = lower.long().mul_(strides[d])
        base = term if base is None else base.add_(term)
        factors.append((1.0 - frac, frac))
    return base, factors, flip, strides


def chunk_length(n_pixels: int, ndim: int, chunk_elements: int | None = None) -> int:
    """Number of slices per chunk so that slices × pixels × 2^ndim stays within the budget."""
    budget = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
    return max(1, budget // max(1, n_pixels * 2**ndim))


def extract_slices(
    compact: torch.Tensor,
    ndim: int,
    rotations: torch.Tensor,
    pixels: SlicePixels,
    scale: float,
    chunk_elements: int | None = None,
) -> torch.Tensor:
    """Rotated central slices F(Aᵀk) of compact grid(s) -> (B, M, M//2+1) rfft of images centred at M//2.

    ``compact`` is one grid (*compact_shape) or one per rotation (B, *compact_shape).
    ``scale`` converts image Fourier pixels to grid units (padded / size).
    """
    n, m = rotations.shape[0], pixels.size
    out = torch.zeros(n, m * (m // 2 + 1), device=compact.device, dtype=compact.dtype)
    out[:, pixels.index] = extract_values(compact, ndim, rotations, pixels.coords, pixels.sign, scale, chunk_elements)
    return out.reshape(n, m, m // 2 + 1)


def extract_values(
    compact: torch.Tensor,
    ndim: int,
    rotations: torch.Tensor,
    coords: torch.Tensor,
    sign: torch.Tensor,
    scale: float,
    chunk_elements: int | None = None,
) -> torch.Tensor:
    """Values (B, P) of the rotated central slices F(Aᵀk) of compact grid(s) at P image frequencies
    ``coords`` (P, 2) = (kx, ky) Fourier pixels, each times ``sign`` (P,) (±1: (−1)^(kx+ky) gives
    the transform of an image centred at M//2); see :func:`extract_slices`."""
    compact_shape = tuple(compact.shape[-ndim:])
    per_rotation = compact.dim() > ndim
    flat = compact.reshape(-1)
    # (value at i, value at i + 1): each gather reads both x neighbours of a corner at once
    pairs = torch.as_strided(flat, (flat.numel() - 1, 2), (1, 1))
    cells = flat.numel() // compact.shape[0] if per_rotation else flat.numel()
    n = rotations.shape[0]
    out = torch.empty(n, coords.shape[0], device=compact.device, dtype=compact.dtype)
    step = chunk_length(coords.shape[0], ndim, chunk_elements)
    k = (coords * scale).T.contiguous()  # (2, P)
    for start in range(0, n, step):
        stop = min(n, start + step)
        axes = torch.matmul(rotations[start:stop, :2, :].transpose(1, 2), k).unbind(1)  # D × (B, P)
        base, factors, flip, strides = _lower_corners(axes, compact_shape)
        if per_rotation:
            base += (torch.arange(start, stop, device=base.device) * cells).view(-1, 1)
        (low_x, high_x), values = factors[0], None
        for bits in itertools.product((0, 1), repeat=ndim - 1):  # the corners in y (and z)
            offset = sum(b * s for b, s in zip(bits, strides[1:]))
            weight = functools.reduce(torch.mul, (factors[d + 1][b] for d, b in enumerate(bits)))
            pair = pairs.index_select(0, (base + offset).view(-1)).view(*base.shape, 2)
            term = (pair[..., 0] * low_x + pair[..., 1] * high_x) * weight
            values = term if values is None else values.add_(term)
        torch.mul(torch.where(flip, values.conj(), values), sign, out=out[start:stop])
    return out
