"""Reading maps, images and stacks for the `vitreo image` commands, with one-line errors for bad input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.mrc import read_header_info, read_mrc


@dataclass
class ImageData:
    """What an input file holds: ``data`` (z, y, x) map, (y, x) image or (n, y, x) stack; ``kind`` says which."""

    data: np.ndarray
    kind: str  # "volume", "image" or "stack"
    pixel_size: float  # Å; 0.0 when unknown

    @property
    def ndim(self) -> int:
        """Number of spatial axes (3 for a map, 2 for images and stacks)."""
        return 3 if self.kind == "volume" else 2


def read_image_file(path: Path, angpix: float | None = None) -> ImageData:
    """Read an MRC map, image or MRCS stack; ``angpix`` (Å) overrides the header's pixel size."""
    if not path.is_file():
        raise InputError(path, "no such file")
    info = read_header_info(path)
    data, pixel_size = read_mrc(path)
    kind = "stack" if info.is_stack else ("volume" if info.is_volume else "image")
    if kind == "stack" and data.ndim == 2:
        data = data[None]
    return ImageData(data, kind, angpix if angpix else pixel_size)


def read_map(path: Path, angpix: float | None = None) -> ImageData:
    """Read a 3D map and check that its box is cubic and even."""
    image = read_image_file(path, angpix)
    if image.kind != "volume":
        raise InputError(path, f"expected a 3D map, found a 2D {image.kind}")
    require_even_box(path, image.data.shape, 3)
    return image


def require_even_box(path: Path, shape: tuple[int, ...], ndim: int) -> None:
    """InputError unless the last ``ndim`` axes form an even square/cubic box."""
    from vitreo.em.image_ops import check_box

    problem = check_box(tuple(shape), ndim)
    if problem:
        raise InputError(path, problem)


def require_pixel_size(path: Path, pixel_size: float, needed_for: str) -> float:
    """The pixel size, or InputError saying to pass --angpix when the header has none."""
    if pixel_size <= 0:
        raise InputError(path, f"the header has no pixel size, needed for {needed_for}: give --angpix")
    return pixel_size


def check_symmetry(name: str) -> str:
    """The canonical RELION name of a point group; InputError for an unknown one."""
    from vitreo.em.symmetry import parse_symmetry

    try:
        return parse_symmetry(name).name
    except ValueError as err:
        raise InputError(None, f"--sym: {err}") from None
