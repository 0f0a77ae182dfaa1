"""The detector: MTF, pixel sensitivities and gain reference, hot and dead pixels, count types.

MTF curves are RELION MTF STAR files (rlnResolutionInversePixel in cycles per physical
detector pixel, rlnMtfValue); the shipped ones live in ``vitreo/data/mtf`` (see SOURCES.md
there). The MTF multiplies the expected image before counting, so the counts' noise stays
white: the DQE of an ideal counting detector, MTF². A pixel of sensitivity q records
Poisson(q · expected) counts; the gain reference is 1/q (0 for dead pixels), so that frames
times gain have the expected counts, as RELION multiplies frames by the gain. Hot pixels
read Poisson(10 × the mean dose per pixel) in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em import filters
from vitreo.simulate.config import SimulationConfig

#: Hot pixels read this many times the mean counts per pixel.
HOT_PIXEL_FACTOR = 10.0
_INT8_MAX, _UINT8_MAX, _INT16_MAX = 127, 255, 32767


def mtf_response(
    curve: tuple[np.ndarray, np.ndarray], size: int, pixel_size: float, detector_pixel_size: float,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The MTF on the rfft grid of a size × size image of ``pixel_size`` Å, (size, size//2+1);
    beyond the curve's last point its last value holds."""
    return filters.mtf_response(curve, (size, size), pixel_size, detector_pixel_size, device)


@dataclass(frozen=True)
class Detector:
    """Per-pixel properties of the camera, the same for every movie: (y, x) arrays and (k, 2) (x, y) lists."""

    sensitivity: np.ndarray | None  # None: every pixel counts 1
    hot_pixels: np.ndarray
    dead_pixels: np.ndarray

    @property
    def gain(self) -> np.ndarray | None:
        """Gain reference 1/sensitivity, 0 at dead pixels (float32), or None."""
        if self.sensitivity is None:
            return None
        q = self.sensitivity
        return np.where(q > 0, 1.0 / np.where(q > 0, q, 1.0), 0.0).astype(np.float32)


def draw_detector(rng: np.random.Generator, config: SimulationConfig) -> Detector:
    """Random sensitivities (if a gain reference is asked for) and hot/dead pixel positions."""
    width, height = config.micrograph_size
    n_bad = config.hot_pixels + config.dead_pixels
    flat = rng.choice(width * height, size=n_bad, replace=False)
    xy = np.column_stack([flat % width, flat // width]).astype(np.int64)
    hot, dead = xy[: config.hot_pixels], xy[config.hot_pixels :]
    sensitivity = None
    if config.gain_reference:
        q = 1.0 + config.gain_variation * rng.standard_normal((height, width))
        sensitivity = np.clip(q, 0.5, 1.5).astype(np.float32)
        sensitivity[dead[:, 1], dead[:, 0]] = 0.0
    return Detector(sensitivity, hot, dead)


def counts_per_pixel(config: SimulationConfig) -> float:
    """Mean electrons per pixel in one rendered frame (the whole exposure for micrographs_only)."""
    start, stop = config.frame_exposures[0]
    return (stop - start) * config.pixel_size**2


def count_dtype(config: SimulationConfig) -> np.dtype:
    """Smallest integer type that holds the counts with room to spare (float32 without shot noise
    or for micrographs): int8/int16 for MRC (RELION's signed modes), uint8/uint16 for TIFF."""
    if not config.shot_noise or config.micrographs_only:
        return np.dtype(np.float32)
    mean = counts_per_pixel(config)
    peak = max(mean * (1.0 + 4.0 * config.gain_variation) * 1.5, HOT_PIXEL_FACTOR * mean if config.hot_pixels else 0.0)
    bound = peak + 10.0 * np.sqrt(peak) + 10.0
    if config.tiff:
        return np.dtype(np.uint8) if bound <= _UINT8_MAX else np.dtype(np.uint16)
    if bound <= _INT8_MAX:
        return np.dtype(np.int8)
    return np.dtype(np.int16) if bound <= _INT16_MAX else np.dtype(np.float32)
