"""Particle normalisation as relion_preprocess --norm: background mean 0, standard deviation 1.

The background is every pixel with distance > ``bg_radius`` (pixels) from the box centre
(pixel N//2 on each axis), as RELION's calculateBackgroundAvgStddev; the standard deviation is
the population one (divide by n). Images are batched (..., y, x). Order of operations as
RELION's ``normalise``: dust removal (with the first background statistics), ramp removal,
then subtract the background mean and divide by its standard deviation. Images whose
background standard deviation is below 1e-10 are left as they are (RELION skips them too).
"""

from __future__ import annotations

import torch

from vitreo.em.backend import randn_like
from vitreo.em.masks import centred_radius


def default_bg_radius(box: int) -> int:
    """RELION's default background radius: 75% of the box as diameter, int(0.375·box) pixels.

    (The Extract job's "Diameter background circle" of −1; relion_preprocess itself requires --bg_radius.)
    """
    return int(0.375 * box)


def background_mask(box: int, bg_radius: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (box, box): True outside the circle of radius ``bg_radius`` pixels."""
    if 2 * bg_radius > box:
        raise ValueError(f"2·bg_radius ({2 * bg_radius}) is larger than the box ({box})")
    return centred_radius((box, box), device, torch.float64) > bg_radius


def background_stats(images: torch.Tensor, background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population standard deviation of each image's ``background`` pixels: (..., 1, 1) each."""
    values = images[..., background]
    mean = values.mean(-1)
    std = values.std(-1, correction=0)
    return mean[..., None, None], std[..., None, None]


def subtract_background_ramp(images: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Subtract from each image the least-squares plane a·y + b·x + c fitted to its background pixels."""
    box = images.shape[-1]
    coords = torch.arange(box, device=images.device, dtype=images.dtype) - box // 2
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    design = torch.stack([y, x, torch.ones_like(x)], dim=-1)  # (box, box, 3)
    coefficients = torch.einsum("kp,...p->...k", torch.linalg.pinv(design[background]), images[..., background])
    return images - torch.einsum("yxk,...k->...yx", design, coefficients)


def remove_dust(
    images: torch.Tensor,
    background: torch.Tensor,
    white_sigma: float = -1.0,
    black_sigma: float = -1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Replace pixels above mean + white_sigma·std (white dust) or below mean − black_sigma·std
    (black dust) with Gaussian noise of the background's mean and std; a value ≤ 0 disables a side."""
    if white_sigma <= 0 and black_sigma <= 0:
        return images
    mean, std = background_stats(images, background)
    deviation = images - mean
    dust = torch.zeros_like(images, dtype=torch.bool)
    if white_sigma > 0:
        dust |= deviation > white_sigma * std
    if black_sigma > 0:
        dust |= deviation < -black_sigma * std
    return torch.where(dust, mean + std * randn_like(images, generator), images)


def normalise(
    images: torch.Tensor,
    bg_radius: int | None = None,
    *,
    ramp: bool = True,
    white_dust: float = -1.0,
    black_dust: float = -1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Normalise square images (..., N, N) as relion_preprocess --norm.

    ``bg_radius`` in pixels (default :func:`default_bg_radius`); ``ramp`` subtracts a plane fitted
    to the background first (RELION's default; its --no_ramp subtracts only the mean);
    ``white_dust``/``black_dust`` in background standard deviations (≤ 0: off, as RELION's −1).
    """
    box = images.shape[-1]
    background = background_mask(box, default_bg_radius(box) if bg_radius is None else bg_radius, images.device)
    images = remove_dust(images, background, white_dust, black_dust, generator)
    if ramp:
        images = subtract_background_ramp(images, background)
    mean, std = background_stats(images, background)
    return torch.where(std < 1e-10, images, (images - mean) / std.clamp_min(1e-10))


def invert_contrast(images: torch.Tensor) -> torch.Tensor:
    """Negate the images (dark particles become white, as RELION's --invert_contrast)."""
    return -images
