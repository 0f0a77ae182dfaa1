"""Picking references: 2D images (class averages), projections of a 3D map, or a Gaussian blob.

All are (R, B, B) float32 images with their pixel size in Å and the particle centre at B//2.
2D references come from an MRC stack or a STAR file whose rows name images in
``rlnReferenceImage`` (a _model.star's data_model_classes) or ``rlnImageName`` (RELION's
autopicker reads the same two labels). 3D maps are projected along the directions of HEALPix
``order`` within the symmetry's asymmetric unit (RELION's ``--healpix_order --sym``; the
in-plane angle is searched later). :func:`match_box` brings references to the pixel and box of
particles; :func:`write_references` stores the references a job used. A Gaussian blob has standard deviation box/6 and peak
``peak`` in a box of 1.5 × the diameter, as RELION's ``--ref gauss``.

The declared pixel size of references (``angpix_ref``, ≤ 0: that of the micrographs) is checked
against the MRC header when the header has one: a mismatch beyond 1 % is an error, since a
wrong scale silently ruins template matching.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitreo.em.geometry import euler_to_matrix
from vitreo.em.projector import Projector
from vitreo.em.sampling import asymmetric_unit_directions
from vitreo.io.errors import InputError
from vitreo.em.fourier import rescale
from vitreo.io.image_refs import format_image_names, read_images
from vitreo.io.mrc import read_header_info, read_mrc, write_mrc
from vitreo.io.star import Table, read_star, write_star

PIXEL_TOLERANCE = 0.01  # relative difference between declared and header pixel sizes that is an error


@dataclass(frozen=True)
class References:
    """Reference images (R, B, B) float32, centre at B//2, and their pixel size (Å)."""

    images: torch.Tensor
    pixel_size: float

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def box(self) -> int:
        return int(self.images.shape[-1])


def check_pixel_size(path: str | os.PathLike[str], declared: float, header: float) -> float:
    """The pixel size to use: ``declared`` (> 0) unless it contradicts the header, else the header's."""
    if declared > 0 and header > 0 and abs(declared - header) > PIXEL_TOLERANCE * declared:
        raise InputError(path, f"references have a pixel size of {header:g} Å in their header, but "
                               f"{declared:g} Å was declared; rescale them or correct the pixel size")
    if declared > 0:
        return declared
    if header > 0:
        return header
    raise InputError(path, "the references' pixel size is unknown: give it (angpix_ref)")


def read_references_2d(path: str | os.PathLike[str], declared_pixel_size: float,
                       project_dir: str | os.PathLike[str] = ".") -> References:
    """2D references from an MRC stack or a STAR file (see the module docstring)."""
    path = Path(path)
    if path.suffix.lower() == ".star":
        names = _reference_names(path)
        images = read_images(names, project_dir)
        first = str(names[0]).split("@")[-1]
        header = read_header_info(Path(project_dir) / first if not os.path.isabs(first) else first).pixel_size
    else:
        data, header = read_mrc(path)
        images = data[None] if data.ndim == 2 else data
    if images.shape[0] == 0:
        raise InputError(path, "no reference images")
    if images.shape[-1] != images.shape[-2] or images.shape[-1] % 2:
        raise InputError(path, f"references must be square with an even box, not {images.shape[-1]}x{images.shape[-2]}")
    pixel = check_pixel_size(path, declared_pixel_size, header)
    return References(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)), pixel)


def _reference_names(path: Path) -> np.ndarray:
    for block in read_star(path).values():
        if isinstance(block, Table):
            for label in ("rlnReferenceImage", "rlnImageName"):
                if label in block and len(block):
                    return np.asarray(block[label]).astype(str)
    raise InputError(path, "no rlnReferenceImage or rlnImageName column with reference images")


def project_map(path: str | os.PathLike[str], declared_pixel_size: float, order: int, symmetry: str) -> References:
    """Projections (psi = 0) of a 3D map along the HEALPix ``order`` directions of ``symmetry``'s asymmetric unit."""
    volume, header = read_mrc(path)
    if volume.ndim != 3 or len(set(volume.shape)) != 1 or volume.shape[0] % 2:
        raise InputError(path, f"a 3D reference must be a cubic map with an even box, not {volume.shape}")
    pixel = check_pixel_size(path, declared_pixel_size, header)
    directions = asymmetric_unit_directions(order, symmetry)
    rotations = euler_to_matrix(directions.rot, directions.tilt, torch.zeros_like(directions.rot))
    projector = Projector(torch.from_numpy(volume))
    box = volume.shape[-1]
    images = torch.fft.irfft2(projector.project(rotations.to(projector.dtype)), s=(box, box))
    return References(images.float().contiguous(), pixel)


def gaussian_blob(diameter: float, pixel_size: float, peak: float) -> References:
    """One Gaussian blob: box 1.5 × diameter (even, pixels), σ = box/6, value ``peak`` at the centre."""
    box = int(1.5 * round(diameter / pixel_size))
    box += box % 2
    if box < 8:
        raise InputError(None, f"a Gaussian blob of {diameter:g} Å is only {box} px at {pixel_size:g} Å/px")
    axis = torch.arange(box, dtype=torch.float32) - box // 2
    r2 = axis[:, None] ** 2 + axis[None, :] ** 2
    return References((peak * torch.exp(-0.5 * r2 / (box / 6.0) ** 2))[None], pixel_size)


def match_box(references: References, pixel_size: float, box: int) -> torch.Tensor:
    """References (R, box, box) resampled to ``pixel_size`` Å (Fourier cropping or padding) and
    cropped or zero-padded about their centre to ``box`` pixels."""
    images = references.images.float()
    size = references.box
    if abs(references.pixel_size - pixel_size) > 1e-4 * pixel_size:
        size = int(round(references.box * references.pixel_size / pixel_size / 2)) * 2
        images = rescale(images, (size, size))
    if size > box:
        start = size // 2 - box // 2
        return images[:, start : start + box, start : start + box].contiguous()
    before = box // 2 - size // 2
    return torch.nn.functional.pad(images, (before, box - size - before, before, box - size - before))


def write_references(stack: str | os.PathLike[str], star: str | os.PathLike[str], references: References,
                     version: int = 50001) -> None:
    """Write references as an MRC stack and a STAR file naming each image (rlnReferenceImage), atomically."""
    write_mrc(stack, references.images.numpy(), references.pixel_size, is_stack=True)
    names = format_image_names(np.arange(len(references)), str(stack)).astype(object)
    write_star(star, {"references": Table({"rlnReferenceImage": names})}, version=version)


def estimate_diameter(references: References) -> float:
    """RELION's automatic mask diameter (Å): the mean width, along each reference's central row,
    of the part that differs from its corner value."""
    images = references.images
    row = images[:, images.shape[-2] // 2, :]
    differs = (row - images[:, :1, 0]).abs() > 1e-6
    box = images.shape[-1]
    first = differs.float().argmax(-1)
    last = box - 1 - differs.flip(-1).float().argmax(-1)
    widths = torch.where(differs.any(-1), (last - first).float(), torch.tensor(float(box)))
    return float(widths.mean()) * references.pixel_size


__all__ = ["PIXEL_TOLERANCE", "References", "check_pixel_size", "read_references_2d", "project_map",
           "gaussian_blob", "match_box", "write_references", "estimate_diameter"]
