"""Fourier filters for batched 2D images and 3D maps: low/high pass, B-factor, whitening.

Inputs are real-space tensors (..., y, x) or (..., z, y, x); ``ndim`` says how many trailing axes
are spatial (default: all of them, up to 3; pass ndim=2 for a stack of images). Frequencies
are |k| in cycles per pixel on the rfft grid; resolutions in Å; edges in Fourier pixels
(1/N cycles per pixel for box N). Edges are raised cosines centred on the cutoff, as RELION's
lowPassFilterMap/highPassFilterMap, so the response is 0.5 at the cutoff itself.
"""

from __future__ import annotations

import numpy as np
import torch

from vitreo.em.fourier import rfft_radius, shell_index
from vitreo.em.masks import raised_cosine_edge


def spatial_dims(x: torch.Tensor, ndim: int | None = None) -> tuple[int, ...]:
    """The trailing spatial axes of ``x`` (all axes, at most 3, when ``ndim`` is None)."""
    n = min(x.dim(), 3) if ndim is None else ndim
    if not 1 <= n <= x.dim():
        raise ValueError(f"cannot take {n} spatial axes from a tensor of shape {tuple(x.shape)}")
    return tuple(range(x.dim() - n, x.dim()))


def spatial_shape(x: torch.Tensor, ndim: int | None = None) -> tuple[int, ...]:
    """The sizes of x's trailing spatial axes (see :func:`spatial_dims`)."""
    return tuple(x.shape[d] for d in spatial_dims(x, ndim))


def apply_fourier_filter(x: torch.Tensor, response: torch.Tensor, ndim: int | None = None) -> torch.Tensor:
    """irfftn(rfftn(x) · response): ``response`` on the rfft grid of x's spatial shape (broadcast)."""
    dims = spatial_dims(x, ndim)
    return torch.fft.irfftn(torch.fft.rfftn(x, dim=dims) * response, s=spatial_shape(x, ndim), dim=dims)


def lowpass_response(
    shape: tuple[int, ...],
    resolution: float,
    pixel_size: float,
    edge_px: float = 2.0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Low-pass response on the rfft grid of ``shape``: 1 below, 0 above ``resolution`` (Å).

    The raised-cosine edge spans ``edge_px`` Fourier pixels centred on the cutoff N·pixel_size/resolution.
    """
    box = shape[-1]
    radius_px = rfft_radius(shape, device, dtype) * box
    cutoff_px = box * pixel_size / resolution
    return raised_cosine_edge(radius_px - (cutoff_px - 0.5 * edge_px), edge_px)


def lowpass(
    x: torch.Tensor, resolution: float, pixel_size: float, *, edge_px: float = 2.0, ndim: int | None = None
) -> torch.Tensor:
    """Low-pass filter x to ``resolution`` Å (see :func:`lowpass_response`)."""
    shape = spatial_shape(x, ndim)
    return apply_fourier_filter(x, lowpass_response(shape, resolution, pixel_size, edge_px, x.device, x.dtype), ndim)


def highpass(
    x: torch.Tensor, resolution: float, pixel_size: float, *, edge_px: float = 2.0, ndim: int | None = None
) -> torch.Tensor:
    """High-pass filter x: removes detail coarser than ``resolution`` Å (response 1 − low-pass)."""
    shape = spatial_shape(x, ndim)
    response = 1.0 - lowpass_response(shape, resolution, pixel_size, edge_px, x.device, x.dtype)
    return apply_fourier_filter(x, response, ndim)


def bfactor_response(
    shape: tuple[int, ...],
    bfactor: float | torch.Tensor,
    pixel_size: float,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """exp(−B s²/4) on the rfft grid of ``shape``, s in 1/Å; a tensor B (...) gives (..., *rfft_shape)."""
    s2 = (rfft_radius(shape, device, dtype) / pixel_size) ** 2
    b = torch.as_tensor(bfactor, device=device, dtype=dtype)
    return torch.exp(-0.25 * b.reshape(b.shape + (1,) * len(shape)) * s2)


def apply_bfactor(
    x: torch.Tensor, bfactor: float | torch.Tensor, pixel_size: float, ndim: int | None = None
) -> torch.Tensor:
    """Multiply x's transform by exp(−B s²/4) (B in Å²): B > 0 blurs, B < 0 sharpens (RELION's sign).

    A tensor ``bfactor`` holds one B per leading index of x.
    """
    shape = spatial_shape(x, ndim)
    return apply_fourier_filter(x, bfactor_response(shape, bfactor, pixel_size, x.device, x.dtype), ndim)


def whiten(x: torch.Tensor, radial_power: torch.Tensor, ndim: int | None = None, eps: float = 1e-12) -> torch.Tensor:
    """Divide x's transform by √power of its shell: ``radial_power`` (..., n_shells) per shell round(|k|·N).

    Shells past the last one (the corners beyond Nyquist) use the last value.
    """
    shells = shell_index(spatial_shape(x, ndim), x.device).clamp_max(radial_power.shape[-1] - 1)
    amplitude = radial_power.clamp_min(eps).sqrt().to(x.device, x.dtype)[..., shells]
    return apply_fourier_filter(x, 1.0 / amplitude, ndim)


def mtf_response(
    curve: tuple[np.ndarray, np.ndarray], shape: tuple[int, ...], pixel_size: float, detector_pixel_size: float,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A detector MTF (float32) on the rfft grid of ``shape`` (an image or map of ``pixel_size`` Å).

    ``curve``: (cycles per detector pixel, MTF) as :func:`vitreo.io.mtf.read_mtf` gives; a
    frequency of k cycles per pixel is k·detector_pixel_size/pixel_size cycles per detector
    pixel, interpolated linearly and held at the curve's ends.
    """
    radius = rfft_radius(shape, device, torch.float64) * (detector_pixel_size / pixel_size)
    values = np.interp(radius.cpu().numpy(), curve[0], curve[1])
    return torch.from_numpy(values).to(device=radius.device, dtype=torch.float32)
