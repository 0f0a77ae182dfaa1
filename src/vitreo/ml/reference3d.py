"""Inputs of 3D classification and refinement, checked against the particles before any iteration:
the reference map (box, pixel size, symmetry, greyscale), the masks, the starting model and
reference, and the per-iteration pieces both drivers share (image size of the coarse pass,
sampling files).

Maps are (z, y, x) with the centre at N//2; every problem is one InputError line with the fix.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from vitreo.em.ctf import ctf_2d
from vitreo.em.filters import lowpass
from vitreo.em.fourier import power_spectrum, shell_index
from vitreo.em.masks import centred_radius, soft_spherical_mask
from vitreo.em.symmetry import parse_symmetry, symmetrise_volume
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc
from vitreo.ml.batch import ImageOptions
from vitreo.ml.driver import MASK_EDGE_PX, DriverSettings, first_model, image_options_of
from vitreo.ml.initial import image_statistics
from vitreo.ml.model import MlModel
from vitreo.ml.particles import ParticleSet

SYMMETRY_MIN_CORRELATION = 0.8  # a map "has" a point group when it correlates this well with its symmetrised copy
GREYSCALE_SAMPLE = 500  # particles used to put a reference on the particles' greyscale


class Reference3DSettings(DriverSettings, Protocol):
    """The settings Class3D and Refine3D share about their reference."""

    symmetry: str
    ini_high: float
    absolute_greyscale: bool


def read_reference(path: str | os.PathLike[str], particles: ParticleSet) -> torch.Tensor:
    """The reference map (N, N, N) float32; its box and pixel size must be the particles'."""
    data, voxel = read_mrc(path)
    box, pixel = particles.box, particles.pixel_size
    if data.ndim != 3 or len(set(data.shape)) != 1:
        raise InputError(path, f"is not a cubic 3D map (shape {data.shape}); give a map of {box}^3 voxels")
    if data.shape[0] != box:
        raise InputError(
            path, f"has a box of {data.shape[0]} px but the particles have {box} px; resample it with "
            f"`vitreo image handle {path} --rescale {pixel:g} --new-box {box}`",
        )
    if voxel > 0 and abs(voxel - pixel) > 0.01 * pixel:
        raise InputError(
            path, f"has {voxel:g} A/px but the particles {pixel:g} A/px; resample it with "
            f"`vitreo image handle {path} --rescale {pixel:g} --new-box {box}`",
        )
    return torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))


def check_symmetry(reference: torch.Tensor, symmetry: str, name: str | os.PathLike[str], resolution: float, pixel: float) -> None:
    """Refuse a point group the reference (seen at ``resolution`` Å) does not have."""
    try:
        group = parse_symmetry(symmetry)
    except ValueError as err:
        raise InputError(None, f"symmetry {symmetry!r}: {err}") from None
    if group.name == "C1":
        return
    smooth = lowpass(reference.double(), max(resolution, 2.5 * pixel), pixel, ndim=3)
    inside = centred_radius(smooth.shape, dtype=smooth.dtype) < smooth.shape[0] / 2
    copy = symmetrise_volume(smooth, group.name)
    a, b = smooth[inside] - smooth[inside].mean(), copy[inside] - copy[inside].mean()
    correlation = float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-30))
    if correlation < SYMMETRY_MIN_CORRELATION:
        raise InputError(
            name, f"does not have {group.name} symmetry (correlation {correlation:.2f} with its symmetrised copy); "
            f"put its symmetry axes on RELION's with `vitreo image align-symmetry {name} --sym {group.name}` or refine in C1",
        )


def read_mask(path: str | os.PathLike[str], box: int, pixel: float) -> torch.Tensor:
    """A solvent mask (N, N, N) with values in [0, 1] and the particles' box."""
    data, voxel = read_mrc(path)
    if data.shape != (box, box, box):
        raise InputError(path, f"has shape {data.shape}, the particles need a {box}^3 mask; resample it with "
                               f"`vitreo image handle {path} --rescale {pixel:g} --new-box {box}`")
    low, high = float(data.min()), float(data.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise InputError(path, f"values must lie in [0, 1] but span [{low:.3g}, {high:.3g}]; make a mask with MaskCreate "
                               "(relion_mask_create) instead of using a map")
    return torch.from_numpy(np.clip(data, 0.0, 1.0).astype(np.float32))


def mask_radius(diameter: float, box: int, pixel: float) -> float:
    """Particle mask radius (pixels) from the diameter (Å; ≤ 0: the box less the soft edge)."""
    if diameter <= 0:
        return box / 2 - MASK_EDGE_PX
    radius = diameter / (2 * pixel)
    if radius > box / 2:
        raise InputError(None, f"particle diameter {diameter:g} A exceeds the box ({box * pixel:g} A)")
    return radius


def particle_mask(radius: float, box: int, ndim: int) -> torch.Tensor:
    """The soft spherical (ndim 3) or circular (ndim 2) mask of the particle diameter."""
    return soft_spherical_mask((box,) * ndim, radius, MASK_EDGE_PX)


def greyscale_scale(reference: torch.Tensor, particles: ParticleSet, radius: float, resolution: float, use_ctf: bool) -> float:
    """The factor that puts a reference on the particles' greyscale (RELION: ref not on absolute
    greyscale). Both are seen at ``resolution`` Å: the particles' mean signal energy inside the
    mask (energy minus the background variance times the area) against the expected energy of
    the reference's (CTF-modulated) projections, E|P(k)|² = the map's shell power at |k|."""
    box, pixel = particles.box, particles.pixel_size
    chosen = torch.linspace(0, len(particles) - 1, min(GREYSCALE_SAMPLE, len(particles))).long()
    images = lowpass(particles.images[chosen].double(), resolution, pixel, ndim=2)
    inside = centred_radius((box, box), dtype=torch.float64) <= radius
    outside = centred_radius((box, box), dtype=torch.float64) > min(radius + MASK_EDGE_PX, box / 2 - 1)
    background = images[:, outside]
    centred = images[:, inside] - background.mean(dim=1, keepdim=True)
    energy = float((centred.square().sum(1) - inside.sum() * background.var(dim=1)).mean())
    smooth = lowpass(reference.double(), resolution, pixel, ndim=3)
    shell_power = power_spectrum(smooth, 3)  # (N//2+1,) mean |F|² per shell
    shells = shell_index((box, box)).clamp_max(box // 2)
    ctf2 = torch.ones(box, box // 2 + 1, dtype=torch.float64)
    if use_ctf and particles.ctf is not None:
        ctf2 = ctf_2d(particles.ctf[chosen], box, pixel).double().square().mean(0)
    weight = torch.ones(box // 2 + 1, dtype=torch.float64)
    weight[1:-1] = 2.0  # rfft columns that stand for two Fourier components
    expected = float((ctf2 * shell_power[shells] * weight).sum()) / box**2
    if energy <= 0 or expected <= 0:
        raise InputError(None, "cannot put the reference on the particles' greyscale (no signal found); "
                               "set 'Ref. map is on absolute greyscale?' to Yes")
    return math.sqrt(energy / expected)


def starting_model(
    references: torch.Tensor, particles: ParticleSet, options: ImageOptions, tau2_fudge: float, sigma_offset: float,
    current_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None,
) -> MlModel:
    """Model of the first iteration: the references (K, N, N, N), noise spectra from the images,
    equal class priors, no signal prior yet, the image size limited to ``current_size``."""
    stats = image_statistics(particles, particles.offsets, options, device=device, generator=generator)
    return first_model(references, stats, particles, tau2_fudge, sigma_offset, current_size)


def particle_masks(
    settings: DriverSettings, mask: str | os.PathLike[str] | None, particles: ParticleSet
) -> tuple[float, ImageOptions, torch.Tensor]:
    """The particle mask radius (pixels), the images' options (masked with a soft circle of that
    radius) and the solvent mask: the map ``mask`` if given, else a soft sphere of that radius."""
    box, pixel = particles.box, particles.pixel_size
    radius = mask_radius(settings.particle_diameter, box, pixel)
    solvent = read_mask(mask, box, pixel) if mask else particle_mask(radius, box, 3)
    return radius, image_options_of(particle_mask(radius, box, 2), settings), solvent


def starting_reference(
    reference: str | os.PathLike[str], particles: ParticleSet, settings: Reference3DSettings, radius: float
) -> torch.Tensor:
    """The reference, checked, on the particles' greyscale (unless absolute) and low-pass
    filtered to ini_high."""
    pixel = particles.pixel_size
    volume = read_reference(reference, particles)
    check_symmetry(volume, settings.symmetry, reference, settings.ini_high, pixel)
    if not settings.absolute_greyscale:
        volume = volume * greyscale_scale(volume, particles, radius, settings.ini_high, settings.ctf)
    return lowpass(volume.double(), settings.ini_high, pixel, ndim=3).float()


def initial_size(box: int, pixel: float, ini_high: float) -> int:
    """RELION's first-iteration image size: frequencies up to ``ini_high`` Å (even, ≤ box)."""
    if ini_high <= 0:
        return box
    return min(box, 2 * max(2, math.ceil(box * pixel / ini_high)))


def solvent_flattening(mask: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """The references' post-processing: multiply by the solvent mask (RELION's --flatten_solvent).
    Symmetry is imposed in the reconstruction itself (the back-projected sums are symmetrised)."""

    def apply(references: torch.Tensor) -> torch.Tensor:
        return references * mask.to(references)

    return apply


def sampling_values(
    order: int, psi_step: float, offset_range_px: float, offset_step_px: float, pixel: float,
    perturbation: float, symmetry: str, original: tuple[int, float, float, float],
) -> dict[str, object]:
    """data_sampling_general of a 3D run (offsets in Å, angles in degrees), as RELION writes it;
    ``original`` = (HEALPix order, psi step, offset range, offset step in pixels) at the start."""
    return {
        "rlnIs3DSampling": 1,
        "rlnIs3DTranslationalSampling": 0,
        "rlnHealpixOrder": order,
        "rlnSymmetryGroup": symmetry,
        "rlnTiltAngleLimit": -91.0,
        "rlnPsiStep": psi_step,
        "rlnOffsetRange": offset_range_px * pixel,
        "rlnOffsetStep": offset_step_px * pixel,
        "rlnHelicalOffsetStep": -1.0,
        "rlnSamplingPerturbInstance": perturbation,
        "rlnSamplingPerturbFactor": 0.5,
        "rlnHealpixOrderOriginal": original[0],
        "rlnPsiStepOriginal": original[1],
        "rlnOffsetRangeOriginal": original[2] * pixel,
        "rlnOffsetStepOriginal": original[3] * pixel,
    }


def check_continuation(saved_model: MlModel, n_saved: int, particles: ParticleSet, n_classes: int, path: Path | str) -> None:
    """A continuation must match its data: 3D, the number of classes, particles, box and groups."""
    if saved_model.ndim != 3 or saved_model.n_classes != n_classes:
        raise InputError(path, f"holds {saved_model.n_classes} {saved_model.ndim}D classes, not {n_classes} 3D classes")
    if n_saved != len(particles) or saved_model.box != particles.box or saved_model.n_groups != particles.n_groups:
        raise InputError(path, "the model does not match its data file (particles, box or groups)")
