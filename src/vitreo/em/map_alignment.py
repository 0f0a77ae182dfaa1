"""Superpose one 3D map on another: rotation, handedness (mirror) and translation.

A de novo map (SGD initial model) comes out in an arbitrary orientation, position and, with
probability one half, hand. :func:`align_maps` finds the rigid motion (and mirror) that best
superposes ``moving`` on ``reference`` by normalised cross-correlation of the two maps low-pass
filtered to ``resolution``: a global search over a uniform rotation grid (HEALPix directions ×
in-plane angles, both hands) on Fourier-cropped maps, every candidate scored at its best
translation (one batched 3D FFT cross-correlation per chunk of rotations), then local refinement
of the best few on finer and finer rotation grids, and a sub-voxel translation on the full maps.

Conventions: maps are (z, y, x) with their centre at N//2. ``rotate_map(v, R)`` is v(Rᵀ·r) for
r = (x, y, z) about the centre, i.e. the map turned by R; the mirror is x → −x about the centre
(as ``vitreo image handle --flip-x``); shifts are (dx, dy, dz) voxels. The result satisfies
``apply_alignment(moving, result) ≈ reference`` (up to the reference's own symmetry).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from vitreo.em.filters import lowpass
from vitreo.em.fourier import fourier_resize, phase_shift
from vitreo.em.geometry import euler_to_matrix
from vitreo.em.image_ops import centred_coordinates, flip_x
from vitreo.em.sampling import healpix_directions, psi_angles

#: Rotations scored per chunk are bounded so that a chunk holds about this many voxels.
CHUNK_VOXELS = 1 << 23


class MapAlignment(NamedTuple):
    """``rotation`` (3, 3) float64, ``flipped`` whether ``moving`` is mirrored first, ``score``
    the normalised cross-correlation (in [−1, 1]) of the low-passed maps once aligned, and
    ``shift`` (3,) float64 voxels (dx, dy, dz) applied last."""

    rotation: torch.Tensor
    flipped: bool
    score: float
    shift: torch.Tensor


#: Mirror x → −x about the centre N//2 (changes the handedness), as `vitreo image handle --flip-x`.
flip_hand = flip_x


def rotate_map(volume: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """``volume`` (N, N, N) turned by each rotation (..., 3, 3): out(r) = volume(Rᵀ·r), trilinear,
    zero outside; returns (..., N, N, N)."""
    size = volume.shape[-1]
    batch = rotations.shape[:-2]
    rotations = rotations.reshape(-1, 3, 3).to(volume)
    r = centred_coordinates(size, volume.device, volume.dtype)
    scale = 2.0 / (size - 1)
    grid = (torch.einsum("zyxi,bij->bzyxj", r, rotations) + size // 2) * scale - 1.0
    source = volume[None, None].expand(len(rotations), 1, size, size, size)
    out = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.reshape(*batch, size, size, size)


def apply_alignment(moving: torch.Tensor, alignment: MapAlignment) -> torch.Tensor:
    """``moving`` mirrored (if ``alignment.flipped``), rotated, then shifted: superposed on the reference."""
    volume = flip_hand(moving) if alignment.flipped else moving
    volume = rotate_map(volume.double(), alignment.rotation.double()).to(moving.dtype)
    shape = tuple(volume.shape)
    return torch.fft.irfftn(phase_shift(torch.fft.rfftn(volume), alignment.shift.to(volume), shape), s=shape)


def uniform_rotations(order: int) -> torch.Tensor:
    """HEALPix directions of ``order`` × in-plane angles at RELION's step for it: (n, 3, 3) float64
    covering SO(3) about as evenly as the E-step's grid (order 2: 4,608 rotations, 15°)."""
    rot, tilt = healpix_directions(order)
    psi = psi_angles(360.0 / (6 * 2**order))
    return euler_to_matrix(
        rot[:, None].expand(-1, len(psi)), tilt[:, None].expand(-1, len(psi)), psi[None].expand(len(rot), -1)
    ).reshape(-1, 3, 3)


def _small_rotations(step_deg: float, points: int = 5) -> torch.Tensor:
    """Rotations exp([ω]×) for ω on a points³ cubic grid of spacing ``step_deg``/2 centred on 0."""
    half = (points - 1) / 2
    axis = (torch.arange(points, dtype=torch.float64) - half) * math.radians(step_deg) / 2
    w = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
    zero = torch.zeros(len(w), dtype=torch.float64)
    skew = torch.stack([
        torch.stack([zero, -w[:, 2], w[:, 1]], -1),
        torch.stack([w[:, 2], zero, -w[:, 0]], -1),
        torch.stack([-w[:, 1], w[:, 0], zero], -1),
    ], dim=-2)
    return torch.linalg.matrix_exp(skew)


def _prepare(volume: torch.Tensor, resolution: float, pixel_size: float, size: int) -> torch.Tensor:
    """Low-passed, Fourier-cropped to ``size``, zero-mean and unit-norm map (float32)."""
    box = volume.shape[-1]
    filtered = lowpass(volume.float(), resolution, pixel_size)
    small = torch.fft.irfftn(fourier_resize(torch.fft.rfftn(filtered), (box,) * 3, (size,) * 3), s=(size,) * 3)
    small = small - small.mean()
    return small / small.norm().clamp_min(1e-30)


class _Scorer:
    """Best-translation correlation of rotated copies of a moving map against a fixed reference."""

    def __init__(self, reference: torch.Tensor, moving: torch.Tensor) -> None:
        self.size = reference.shape[-1]
        self.reference_ft = torch.fft.rfftn(reference)
        self.moving = moving

    def __call__(self, rotations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores (n,) and integer shifts (n, 3) (dx, dy, dz) of rotations (n, 3, 3)."""
        step = max(1, CHUNK_VOXELS // self.size**3)
        scores, shifts = [], []
        for start in range(0, len(rotations), step):
            turned = rotate_map(self.moving, rotations[start : start + step])
            norms = turned.flatten(1).norm(dim=1).clamp_min(1e-30)
            cc = torch.fft.irfftn(self.reference_ft * torch.fft.rfftn(turned, dim=(-3, -2, -1)).conj(),
                                  s=(self.size,) * 3, dim=(-3, -2, -1)).flatten(1)
            best, where = cc.max(dim=1)
            scores.append(best / norms)
            shifts.append(_wrapped_shift(where, self.size))
        return torch.cat(scores), torch.cat(shifts)


def _wrapped_shift(flat_index: torch.Tensor, size: int) -> torch.Tensor:
    """(dx, dy, dz) of a flat (z, y, x) index into a cross-correlation, wrapped to [−N/2, N/2)."""
    z, rest = flat_index // (size * size), flat_index % (size * size)
    y, x = rest // size, rest % size
    shift = torch.stack([x, y, z], dim=-1)
    return (shift + size // 2) % size - size // 2


def align_maps(
    reference: torch.Tensor,
    moving: torch.Tensor,
    pixel_size: float = 1.0,
    resolution: float | None = None,
    *,
    allow_flip: bool = True,
    search_order: int = 2,
    refine_rounds: int = 4,
    candidates: int = 3,
    search_size: int = 20,
    refine_size: int = 48,
) -> MapAlignment:
    """The rotation, mirror and shift that superpose ``moving`` on ``reference`` (both (N, N, N),
    same pixel size in Å); see the module docstring.

    ``resolution`` (Å, default 4 × pixel size) low-passes both maps for the comparison. The
    global search scores :func:`uniform_rotations` of ``search_order`` for each hand on maps
    Fourier-cropped to at most ``search_size`` voxels; the best ``candidates`` (over both hands)
    are refined on maps cropped to at most ``refine_size`` voxels, first over 5³ rotations
    spaced half a grid step, then ``refine_rounds`` − 1 rounds of 3³ with the spacing halved
    each round (15° grid, 4 rounds: final spacing about 0.9°). Symmetric references give one
    of the equivalent answers.
    """
    if reference.shape != moving.shape or reference.dim() != 3 or len(set(reference.shape)) != 1:
        raise ValueError(f"need two cubic maps of the same box, got {tuple(reference.shape)} and {tuple(moving.shape)}")
    box = reference.shape[-1]
    resolution = 4.0 * pixel_size if resolution is None else max(resolution, 2.0 * pixel_size)
    needed = 2 * math.ceil(box * pixel_size / resolution) + 4
    hands = (False, True) if allow_flip else (False,)
    sources = {flipped: flip_hand(moving) if flipped else moving for flipped in hands}
    grid = uniform_rotations(search_order).float()
    coarse = _even(min(box, search_size, needed))
    fixed = _prepare(reference, resolution, pixel_size, coarse)
    found: list[tuple[float, bool, int]] = []
    for flipped in hands:
        scores, _ = _Scorer(fixed, _prepare(sources[flipped], resolution, pixel_size, coarse))(grid)
        found += [(float(scores[i]), flipped, i) for i in torch.argsort(scores, descending=True)[:candidates].tolist()]
    fine = _even(min(box, refine_size, needed))
    fixed = _prepare(reference, resolution, pixel_size, fine)
    scorers = {flipped: _Scorer(fixed, _prepare(sources[flipped], resolution, pixel_size, fine)) for flipped in hands}
    step = 360.0 / (6 * 2**search_order)
    refined = []
    for _, flipped, index in sorted(found, reverse=True)[:candidates]:
        rotation, score = _refine(scorers[flipped], grid[index].double(), step, refine_rounds)
        refined.append((score, flipped, rotation))
    score, flipped, rotation = max(refined, key=lambda item: item[0])
    shift, score = _final_shift(reference, sources[flipped], rotation, resolution, pixel_size)
    return MapAlignment(rotation, flipped, score, shift)


def _even(size: int) -> int:
    return size + size % 2


def _refine(scorer: _Scorer, rotation: torch.Tensor, step: float, rounds: int) -> tuple[torch.Tensor, float]:
    """Local search about ``rotation``: 5³ small rotations spaced step/2, then 3³ with the spacing
    halved each round; keeps the best."""
    best_score = -math.inf
    spacing, points = step, 5
    for _ in range(max(1, rounds)):
        trial = (_small_rotations(spacing, points) @ rotation).float()
        scores, _ = scorer(trial)
        index = int(scores.argmax())
        if float(scores[index]) > best_score:
            best_score, rotation = float(scores[index]), trial[index].double()
        spacing, points = spacing / 2, 3
    return _orthonormal(rotation), best_score


def _orthonormal(matrix: torch.Tensor) -> torch.Tensor:
    u, _, vh = torch.linalg.svd(matrix)
    return u @ vh


def _final_shift(
    reference: torch.Tensor, moving: torch.Tensor, rotation: torch.Tensor, resolution: float, pixel_size: float
) -> tuple[torch.Tensor, float]:
    """Sub-voxel shift (parabolic peak fit on the full-size cross-correlation) and the score there."""
    box = reference.shape[-1]
    fixed = _prepare(reference, resolution, pixel_size, box).double()
    turned = rotate_map(_prepare(moving, resolution, pixel_size, box).double(), rotation)
    turned = turned / turned.norm().clamp_min(1e-30)
    cc = torch.fft.irfftn(torch.fft.rfftn(fixed) * torch.fft.rfftn(turned).conj(), s=(box,) * 3)
    peak = int(cc.argmax())
    z, y, x = peak // (box * box), (peak // box) % box, peak % box
    offsets = []
    for axis, index in ((2, x), (1, y), (0, z)):
        before = [z, y, x]
        after = [z, y, x]
        before[axis] = (index - 1) % box
        after[axis] = (index + 1) % box
        lo, mid, hi = float(cc[tuple(before)]), float(cc[z, y, x]), float(cc[tuple(after)])
        curvature = lo - 2 * mid + hi
        offsets.append(0.5 * (lo - hi) / curvature if curvature < 0 else 0.0)
    integer = _wrapped_shift(torch.tensor(peak), box).double()
    shift = integer + torch.tensor(offsets, dtype=torch.float64)
    return shift, float(cc.max())
