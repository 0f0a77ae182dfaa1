"""Whole-map and whole-image operations, as relion_image_handler's: mirror, window, rescale, centre, rotate.

Arrays are (..., y, x) images or (..., z, y, x) maps with ``ndim`` trailing spatial axes; the box
centre is index N//2 on each axis (RELION's origin). Shifts are (x, y[, z]) in pixels; rotations
are RELION matrices A acting on (x, y, z) coordinates: the rotated map is out(r) = in(Aᵀ r).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vitreo.em.filters import spatial_dims
from vitreo.em.fourier import phase_shift, rescale


def flip_x(x: torch.Tensor) -> torch.Tensor:
    """Mirror along x about the box centre: out[..., i] = x[..., (N − i) mod N].

    Inverts the handedness of a map. Unlike RELION's --flipX (index N−1−i, which moves the centre
    by one pixel for even N) the centre N//2 stays in place; column 0 maps onto itself.
    """
    return torch.roll(torch.flip(x, (-1,)), 1, -1)


def window(x: torch.Tensor, size: int, ndim: int) -> torch.Tensor:
    """Crop or zero-pad the last ``ndim`` axes to ``size`` about the centre (index N//2 -> size//2)."""
    out = x
    for d in spatial_dims(x, ndim):
        n = x.shape[d]
        if size < n:
            out = out.narrow(d, n // 2 - size // 2, size)
        elif size > n:
            before = size // 2 - n // 2
            pad = [0, 0] * (x.dim() - 1 - d) + [before, size - n - before]
            out = F.pad(out, pad)
    return out


def rescaled_box(box: int, pixel_size: float, new_pixel_size: float) -> int:
    """The even box that holds the same field of view at ``new_pixel_size``: as RELION, round then make even."""
    size = round(box * pixel_size / new_pixel_size)
    return max(2, size - size % 2)


def rescale_box(x: torch.Tensor, size: int, ndim: int) -> torch.Tensor:
    """Resample the last ``ndim`` axes to ``size`` pixels by Fourier cropping/padding (same field of view).

    The pixel size becomes pixel_size · N / size; values keep their scale.
    """
    return rescale(x, (size,) * ndim)


def centre_of_mass(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Centre of mass (..., ndim) ordered (x, y[, z]) in pixels from the box centre, over positive values only."""
    dims = spatial_dims(x, ndim)
    weights = x.clamp_min(0)
    total = weights.sum(dims).clamp_min(torch.finfo(x.dtype).tiny)
    coords = []
    for axis in reversed(dims):  # x first
        n = x.shape[axis]
        position = (torch.arange(n, dtype=x.dtype, device=x.device) - n // 2).reshape((n,) + (1,) * (x.dim() - 1 - axis))
        coords.append((weights * position).sum(dims) / total)
    return torch.stack(coords, dim=-1)


def shift(x: torch.Tensor, shifts: torch.Tensor, ndim: int) -> torch.Tensor:
    """Translate by ``shifts`` (..., ndim) pixels (x, y[, z]) with Fourier phases (periodic: content wraps)."""
    dims = spatial_dims(x, ndim)
    shape = tuple(x.shape[d] for d in dims)
    moved = phase_shift(torch.fft.rfftn(x, dim=dims), shifts, shape)
    return torch.fft.irfftn(moved, s=shape, dim=dims)


def centre_by_mass(x: torch.Tensor, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the centre of mass (positive values) to the box centre; returns (centred, shift applied)."""
    offset = -centre_of_mass(x, ndim)
    return shift(x, offset, ndim), offset


def sample_volume(vol: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Trilinear values of ``vol`` (z, y, x) at points (..., 3) = (x, y, z) pixels from the centre; 0 outside."""
    depth, height, width = vol.shape
    sizes = torch.tensor([width, height, depth], dtype=points.dtype, device=points.device)
    grid = (points + torch.div(sizes, 2, rounding_mode="floor")) * (2 / (sizes - 1)) - 1
    flat = grid.reshape(1, -1, 1, 1, 3).to(vol.dtype)
    values = F.grid_sample(vol[None, None], flat, mode="bilinear", padding_mode="zeros", align_corners=True)
    return values.reshape(points.shape[:-1])


def centred_coordinates(size: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Voxel coordinates (size, size, size, 3) = (x, y, z) in pixels from the centre size//2."""
    axis = torch.arange(size, device=device, dtype=dtype) - size // 2
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def rotate_volume(vol: torch.Tensor, rotation: torch.Tensor, oversampling: int = 2, chunk_voxels: int = 1 << 22) -> torch.Tensor:
    """The map rotated by RELION matrix A: out(r) = vol(Aᵀ r), r from the centre N//2; 0 where Aᵀ r leaves the box.

    Trilinear interpolation on a copy Fourier-padded ``oversampling`` times (2 keeps the
    interpolation loss below ~1% up to 2/3 Nyquist); built in z-slabs of ``chunk_voxels``.
    """
    size = vol.shape[-1]
    fine = rescale_box(vol, size * oversampling, 3) if oversampling > 1 else vol
    a = rotation.to(vol.dtype).to(vol.device)
    axis = torch.arange(size, device=vol.device, dtype=vol.dtype) - size // 2
    out = torch.empty_like(vol)
    slab = max(1, chunk_voxels // (size * size))
    for z0 in range(0, size, slab):
        z, y, x = torch.meshgrid(axis[z0 : z0 + slab], axis, axis, indexing="ij")
        points = torch.stack([x, y, z], dim=-1) @ a  # rows r·A = (Aᵀ r)ᵀ
        out[z0 : z0 + slab] = sample_volume(fine, points * oversampling)
    return out


def image_statistics(x: torch.Tensor, ndim: int) -> dict[str, torch.Tensor]:
    """Mean, standard deviation (population, as RELION's computeStats), min and max over the spatial axes."""
    dims = spatial_dims(x, ndim)
    values = x.double()
    mean = values.mean(dims)
    std = (values - mean.reshape(mean.shape + (1,) * ndim)).square().mean(dims).sqrt()
    flat = values.flatten(-ndim) if ndim > 1 else values
    return {"mean": mean, "std": std, "min": flat.amin(-1), "max": flat.amax(-1)}


def check_box(shape: tuple[int, ...], ndim: int) -> str | None:
    """Why a box of ``shape`` cannot be used (non-square/cubic or odd), or None."""
    box = shape[-ndim:]
    if len(set(box)) != 1:
        return f"box is {' x '.join(map(str, reversed(box)))} pixels; it must be {'square' if ndim == 2 else 'cubic'}"
    if box[0] % 2:
        return f"box is {box[0]} pixels; it must be even"
    return None

