"""Gain references (MRC or TIFF) with RELION's ``--gain_rot`` / ``--gain_flip`` options.

Orientation words refer to the image shown with row 0 at the top, as
relion_display shows it. RELION's motioncorr_runner (prepareGainReference ->
ImageOp) rotates first, then flips:

- ``--gain_rot`` 0: none; 1: 90° clockwise, new[i, j] = old[ny-1-j, i]
  (``np.rot90(g, k=-1)``, MotionCor2's -RotGain 1, which MotionCor2 calls
  counter-clockwise because it puts row 0 at the bottom); 2: 180°; 3: 270°
  clockwise (``np.rot90(g, k=1)``);
- ``--gain_flip`` 0: none; 1: upside down, rows reversed (``np.flipud``);
  2: left to right, columns reversed (``np.fliplr``).

Frames are multiplied by the gain (RELION and MotionCor2 both multiply). Pixels
whose gain is zero or not finite are dead: :func:`gain_defect_mask` flags them
so that motion correction fills them like other defects.
"""

from __future__ import annotations

import os

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.movies import open_movie

GAIN_ROTATIONS = (0, 1, 2, 3)  # multiples of 90° clockwise
GAIN_FLIPS = (0, 1, 2)  # none, upside down (Y), left to right (X)


def transform_gain(gain: np.ndarray, rotation: int = 0, flip: int = 0) -> np.ndarray:
    """Rotate ``rotation`` × 90° clockwise, then flip (1: upside down, 2: left-right), as RELION."""
    if rotation not in GAIN_ROTATIONS:
        raise ValueError(f"gain rotation must be 0, 1, 2 or 3, not {rotation}")
    if flip not in GAIN_FLIPS:
        raise ValueError(f"gain flip must be 0, 1 or 2, not {flip}")
    out = np.rot90(gain, k=-rotation)
    if flip == 1:
        out = np.flipud(out)
    elif flip == 2:
        out = np.fliplr(out)
    return np.ascontiguousarray(out)


def load_gain(
    path: str | os.PathLike[str],
    rotation: int = 0,
    flip: int = 0,
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read a gain reference as float32 (y, x), rotated and flipped to match the movie frames.

    TIFF gain files (``.tif``, ``.tiff``, EPU's ``.gain``) are flipped along y on
    reading, exactly as TIFF movies are. Non-finite gain values become 0 (dead
    pixels). With ``shape`` (ny, nx) of the movie frames, a size mismatch raises
    InputError, the usual sign of a missing ``--gain_rot``.
    """
    try:
        oriented = transform_gain(_read_single_image(path), rotation, flip)
    except ValueError as err:
        raise InputError(path, str(err)) from None
    gain = np.nan_to_num(oriented, nan=0.0, posinf=0.0, neginf=0.0)
    if shape is not None and gain.shape != tuple(shape):
        raise InputError(
            path,
            f"gain reference is {gain.shape[1]}x{gain.shape[0]} (x by y) after rotation {rotation} and flip {flip}, "
            f"but movie frames are {shape[1]}x{shape[0]}; check the gain rotation",
        )
    return gain


def gain_defect_mask(gain: np.ndarray) -> np.ndarray:
    """Dead pixels of a gain reference: True where the gain is zero or not finite."""
    return ~np.isfinite(gain) | (gain == 0)


def apply_gain(frames: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Gain-correct counts: frames (y, x) or (k, y, x) times gain (y, x), as float32."""
    if frames.shape[-2:] != gain.shape:
        raise ValueError(f"frame shape {frames.shape[-2:]} does not match gain shape {gain.shape}")
    return np.multiply(frames, gain, dtype=np.float32)


def _read_single_image(path: str | os.PathLike[str]) -> np.ndarray:
    with open_movie(path) as image:
        if image.n_frames != 1:
            raise InputError(path, f"holds {image.n_frames} images, expected a single gain image")
        return image.frame(0)
