"""Orientation and offset sampling as RELION's HealpixSampling.

Directions are HEALPix pixel centres (NEST order, nside = 2^order) with rot = phi wrapped to
(-π, π] and tilt = theta, in radians. The angular step RELION reports (and its default psi step)
is 360°/(6·2^order): 15° at order 2, 7.5° at 3, 3.75° at 4, 1.875° at 5; the mean
nearest-neighbour spacing of the pixel centres is about 58.6°/2^order. Adaptive oversampling by
m splits a direction into its 4^m HEALPix children at order + m, a psi step into 2^m and an
offset step into 2^m per axis, each child at the centre of its share of the parent's cell.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from vitreo.em.geometry import euler_to_direction
from vitreo.em.healpix import max_pixrad, nest_to_xyf, npix, pix2ang_nest, xyf_to_nest
from vitreo.em.symmetry import in_asymmetric_unit, symmetry_operators

# RELION checks the seams of the asymmetric unit only for fewer directions than this
_SEAM_CHECK_LIMIT = 4000


class Directions(NamedTuple):
    """A set of sampled directions: NEST pixel index, rot and tilt (radians)."""

    pixel: torch.Tensor
    rot: torch.Tensor
    tilt: torch.Tensor


def angular_step_deg(order: int) -> float:
    """RELION's angular sampling of HEALPix order ``order`` in degrees: 360 / (6 · 2^order)."""
    return 360.0 / (6 * 2**order)


def _pixel_rot_tilt(order: int, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    theta, phi = pix2ang_nest(order, pixels)
    return torch.where(phi > math.pi, phi - 2 * math.pi, phi), theta


def healpix_directions(order: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(rot, tilt) in radians (float64) of all 12·4^order directions, indexed by NEST pixel."""
    return _pixel_rot_tilt(order, torch.arange(npix(order), device=device))


def psi_angles(step_deg: float, device: torch.device | str | None = None) -> torch.Tensor:
    """In-plane angles (radians, float64) 0, s, 2s, ... with s = 360°/ceil(360°/step_deg), as RELION."""
    if step_deg <= 0:
        raise ValueError(f"psi step must be positive, got {step_deg}")
    count = math.ceil(360.0 / step_deg)
    return torch.arange(count, dtype=torch.float64, device=device) * (2 * math.pi / count)


def translations(
    range_px: float, step_px: float, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """Offsets (n, 2) = (x, y) on a grid of spacing ``step_px`` within a circle of radius ``range_px``.

    As RELION's setTranslations: x outer, y inner, kept when x² + y² < range² + 0.001.
    """
    if step_px <= 0 or range_px < 0:
        raise ValueError(f"offset step must be positive and range non-negative, got {step_px}, {range_px}")
    steps = math.ceil(range_px / step_px)
    axis = torch.arange(-steps, steps + 1, dtype=dtype, device=device) * step_px
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)
    return grid[(grid * grid).sum(-1) < range_px * range_px + 0.001]


def _sub_cell_centres(count: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Centres of ``count`` equal parts of a unit cell centred on 0."""
    return (torch.arange(count, dtype=dtype, device=device) + 0.5) / count - 0.5


def oversample_directions(order: int, pixels: torch.Tensor, oversampling: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rot, tilt) (..., 4^m) of the HEALPix children at order + m of NEST ``pixels`` (...), m = oversampling.

    Children come in RELION's order (face-local y outer, x inner); as a set they are the NEST
    indices 4^m·p ... 4^m·p + 4^m − 1.
    """
    fact = 1 << oversampling
    ix, iy, face = nest_to_xyf(order, pixels)
    sub = torch.arange(fact * fact, device=ix.device)
    child_x = fact * ix[..., None] + sub % fact
    child_y = fact * iy[..., None] + sub // fact
    children = xyf_to_nest(order + oversampling, child_x, child_y, face[..., None])
    return _pixel_rot_tilt(order + oversampling, children)


def oversample_psi(psi: torch.Tensor, step: float, oversampling: int) -> torch.Tensor:
    """In-plane angles (..., 2^m) splitting each psi (...) cell of width ``step`` radians; m = 1 gives psi ± step/4."""
    return psi[..., None] + step * _sub_cell_centres(1 << oversampling, psi.dtype, psi.device)


def oversample_translations(offsets: torch.Tensor, step: float, oversampling: int) -> torch.Tensor:
    """Offsets (..., 4^m, 2) splitting each (x, y) offset cell (..., 2) of width ``step`` (x outer, y inner)."""
    sub = _sub_cell_centres(1 << oversampling, offsets.dtype, offsets.device) * step
    grid = torch.stack(torch.meshgrid(sub, sub, indexing="ij"), dim=-1).reshape(-1, 2)
    return offsets[..., None, :] + grid


def _lexicographic_independent_set(adjacent: torch.Tensor) -> torch.Tensor:
    """Mask of the points a sequential greedy pass keeps: i is kept unless an earlier kept point is adjacent.

    Decided in parallel rounds: a point is settled once all its earlier neighbours are.
    """
    earlier = torch.tril(adjacent, diagonal=-1).to(torch.float32)
    undecided = torch.ones(adjacent.shape[0], dtype=torch.bool, device=adjacent.device)
    kept = torch.zeros_like(undecided)
    while undecided.any():
        blocked = (earlier @ kept.to(torch.float32)) > 0
        waiting = (earlier @ undecided.to(torch.float32)) > 0
        kept = kept | (undecided & ~blocked & ~waiting)
        undecided = undecided & ~blocked & waiting
    return kept


def asymmetric_unit_directions(order: int, sym: str) -> Directions:
    """The directions of HEALPix ``order`` that RELION keeps for point group ``sym``.

    First RELION's geometric asymmetric-unit region (symmetry.in_asymmetric_unit); then, when fewer
    than 4000 remain, a direction is dropped if a symmetry mate g·v of an earlier kept direction
    lies within half the HEALPix max pixel radius of it (RELION's seam check).
    """
    rot, tilt = healpix_directions(order)
    pixels = torch.nonzero(in_asymmetric_unit(rot, tilt, sym)).squeeze(-1)
    if len(pixels) < _SEAM_CHECK_LIMIT:
        v = euler_to_direction(rot[pixels], tilt[pixels])
        cos_max = math.cos(0.5 * max_pixrad(order))
        adjacent = torch.zeros(len(pixels), len(pixels), dtype=torch.bool)
        for g in symmetry_operators(sym):
            adjacent |= (v @ g.T) @ v.T > cos_max
        pixels = pixels[_lexicographic_independent_set(adjacent)]
    return Directions(pixels, rot[pixels], tilt[pixels])


def local_direction_weights(
    prior_rot: torch.Tensor,
    prior_tilt: torch.Tensor,
    rot: torch.Tensor,
    tilt: torch.Tensor,
    sigma: float,
    sym: str = "C1",
    cutoff: float = 3.0,
) -> torch.Tensor:
    """Gaussian prior weights (..., n) of directions (rot, tilt) (n,) around priors (...), all in radians.

    As RELION's selectOrientationsWithNonZeroPriorProbability: the distance is the angle from the
    prior to the nearest symmetry mate g·v of each direction; directions closer than cutoff·sigma
    get exp(−d²/2σ²), normalised to sum 1 per prior; a prior with none gets weight 1 on the nearest.
    """
    v = euler_to_direction(rot, tilt)
    prior = euler_to_direction(prior_rot, prior_tilt).to(v.dtype)
    best_cos = torch.full((*prior.shape[:-1], v.shape[0]), -1.0, dtype=v.dtype, device=v.device)
    for g in symmetry_operators(sym, v.dtype, v.device):
        best_cos = torch.maximum(best_cos, prior @ (v @ g.T).T)
    distance = torch.acos(best_cos.clamp(-1.0, 1.0))
    gaussian = torch.exp(-0.5 * (distance / sigma) ** 2)
    weights = torch.where(distance < cutoff * sigma, gaussian, torch.zeros_like(gaussian))
    nearest = torch.nn.functional.one_hot(distance.argmin(-1), v.shape[0]).to(weights.dtype)
    weights = torch.where(weights.sum(-1, keepdim=True) > 0, weights, nearest)
    return weights / weights.sum(-1, keepdim=True)


def local_directions(
    prior_rot: torch.Tensor, prior_tilt: torch.Tensor, sigma: float, order: int, sym: str = "C1", cutoff: float = 3.0
) -> tuple[Directions, torch.Tensor]:
    """The asymmetric-unit directions of ``order`` and their prior weights (..., n) around priors (...)."""
    directions = asymmetric_unit_directions(order, sym)
    rot, tilt = directions.rot.to(prior_rot.device), directions.tilt.to(prior_rot.device)
    return directions, local_direction_weights(prior_rot, prior_tilt, rot, tilt, sigma, sym, cutoff)
