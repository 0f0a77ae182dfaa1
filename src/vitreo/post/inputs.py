"""Inputs of post-processing: the two unfiltered half-maps (found from one of them as RELION does), a mask, an MTF."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc
from vitreo.io.mtf import mtf_file, read_mtf


@dataclass(frozen=True)
class HalfMaps:
    """Half-maps (z, y, x) float32 tensors, their file names and the pixel size (Å)."""

    half1: torch.Tensor
    half2: torch.Tensor
    name1: str
    name2: str
    pixel_size: float


def other_half(name: str) -> str:
    """The other half-map's file name: the last 'half1' becomes 'half2' or vice versa (RELION's getTheOtherHalf)."""
    base = Path(name).name
    for this, other in (("half1", "half2"), ("half2", "half1")):
        at = base.rfind(this)
        if at >= 0:
            return str(Path(name).with_name(base[:at] + other + base[at + len(this):]))
    raise InputError(name, "cannot find 'half1' or 'half2' in the file name, so the other half-map is unknown")


def read_map(path: str, pixel_size: float = -1.0) -> tuple[torch.Tensor, float]:
    """A cubic 3D map as a float32 tensor and its pixel size: ``pixel_size`` if positive, else the header's."""
    if not Path(path).is_file():
        raise InputError(path, "file not found")
    data, header_pixel = read_mrc(path)
    if data.ndim != 3 or len(set(data.shape)) != 1 or data.shape[0] % 2:
        raise InputError(path, f"expected a cubic 3D map with an even box, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise InputError(path, "the map holds NaN or infinite values")
    size = pixel_size if pixel_size > 0 else header_pixel
    if size <= 0:
        raise InputError(path, "the header has no pixel size: give the calibrated pixel size (--angpix)")
    return torch.from_numpy(np.ascontiguousarray(data)), float(size)


def read_half_maps(name: str, pixel_size: float = -1.0) -> HalfMaps:
    """Read ``name`` and its other half; ``pixel_size`` ≤ 0 takes the first one's header."""
    name2 = other_half(name)
    half1, size = read_map(name, pixel_size)
    half2, _ = read_map(name2, size)
    if half1.shape != half2.shape:
        raise InputError(name2, f"shape {tuple(half2.shape)} differs from {name}'s {tuple(half1.shape)}")
    return HalfMaps(half1, half2, name, name2, size)


def read_mask(path: str, shape: tuple[int, ...]) -> torch.Tensor:
    """A mask with values in [0, 1] of the given shape (RELION refuses anything else)."""
    if not Path(path).is_file():
        raise InputError(path, "file not found")
    data, _ = read_mrc(path)
    if tuple(data.shape) != tuple(shape):
        raise InputError(path, f"mask shape {data.shape} differs from the maps' {tuple(shape)}")
    low, high = float(data.min()), float(data.max())
    if low < -1e-6 or high > 1 + 1e-6:
        raise InputError(path, f"mask values must lie in [0, 1], found {low:g} to {high:g}")
    return torch.from_numpy(np.ascontiguousarray(data)).clamp(0.0, 1.0)


def read_mtf_curve(name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(cycles per detector pixel, MTF) of a shipped curve name or MTF STAR file; None for ''/'none'."""
    path = mtf_file(name)
    if path is None:
        return None
    frequencies, values = read_mtf(path)
    if (values < 1e-10).any():
        raise InputError(path, "zero or negative values in the MTF curve")
    return frequencies, values


__all__ = ["HalfMaps", "other_half", "read_map", "read_half_maps", "read_mask", "read_mtf_curve"]
