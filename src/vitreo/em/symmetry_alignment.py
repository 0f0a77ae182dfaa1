"""Put a map's symmetry axes where RELION expects them (as relion_align_symmetry).

Find the rotation A such that the rotated map v_A(r) = v(Aᵀ r) is invariant under the operators g
of the point group in RELION's setting (Cn about z, Dn with a 2-fold on x, T/O/I as
:mod:`vitreo.em.symmetry`). Since symmetrisation is an average over the group,
‖v_A − sym(v_A)‖² = ‖v‖² − ⟨v_A, sym(v_A)⟩, so the search maximises

    score(A) = mean over generators g of ⟨v − v̄, v∘(Aᵀ g A)⟩ / ⟨v − v̄, v − v̄⟩,

the self-correlation of the map under the conjugated operators (1 for an exact symmetry; v̄ is
the mean within the sphere, so a constant background does not flatten the score). Invariance
under a group's generators (2 for every group but Cn) is invariance under the group, so they
suffice. Each term samples v at the rotated voxel coordinates (trilinear, from a 2× Fourier-padded
copy), all candidates and operators in one batch. The search runs on a small Fourier-cropped copy over a HEALPix grid (directions × psi),
then refines the best candidates by pattern search over axis-angle steps on a larger copy.
The answer is unique only up to the normaliser of the group (e.g. any permutation of the D2
axes, any rotation about z for Cn).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vitreo.em.geometry import angular_distance, euler_to_matrix
from vitreo.em.image_ops import centred_coordinates, rescale_box
from vitreo.em.sampling import healpix_directions, psi_angles
from vitreo.em.symmetry import symmetry_operators

#: bound on (candidate rotations × operators × points) sampled at once
CHUNK_SAMPLES = 1 << 23
#: candidates scoring within this of the best count as equivalent (up to the group's normaliser)
NEAR_BEST = 0.01


@dataclass(frozen=True)
class SymmetryAlignment:
    """The rotation A (3, 3) that aligns the map (apply with image_ops.rotate_volume), and its score in [−1, 1]."""

    rotation: torch.Tensor
    score: float
    coarse_score: float


def axis_angle_to_matrix(vectors: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) for axis-angle vectors (..., 3) (direction = axis, length = angle in radians)."""
    angle = torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    axis = vectors / angle.clamp_min(1e-12)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*vectors.shape[:-1], 3, 3)
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=vectors.dtype, device=vectors.device)
    return eye + s * k + (1 - c) * (k @ k)


def grid_rotations(order: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """All RELION matrices (n, 3, 3) of HEALPix ``order`` directions × psi at the same angular step."""
    rot, tilt = healpix_directions(order)
    psi = psi_angles(360.0 / (6 * 2**order))
    r, p = rot[:, None].expand(-1, len(psi)), psi[None, :].expand(len(rot), -1)
    t = tilt[:, None].expand(-1, len(psi))
    return euler_to_matrix(r.reshape(-1), t.reshape(-1), p.reshape(-1)).to(dtype)


class SymmetryScorer:
    """score(A) of a map for many rotations A at once (see the module docstring).

    ``volume`` (N, N, N) is sampled at the voxels within radius N/2 − 1 of the centre; ``operators``
    (k, 3, 3) are the operators to test (not the identity; generators suffice). The rotated copies
    are read from a copy Fourier-padded ``oversampling`` times: plain trilinear interpolation
    blurs anisotropically and biases the optimum by a degree or two when few operators are used.
    """

    def __init__(self, volume: torch.Tensor, operators: torch.Tensor, oversampling: int = 2) -> None:
        size = volume.shape[-1]
        coords = centred_coordinates(size, volume.device, volume.dtype).reshape(-1, 3)
        inside = coords.square().sum(-1) <= (size / 2 - 1) ** 2
        fine = rescale_box(volume, size * oversampling, 3) if oversampling > 1 else volume
        self.volume = fine.to(torch.float32)[None, None]  # sampled in single precision, summed in double
        # grid_sample's coordinates (align_corners=True): index i -> 2i/(M − 1) − 1, centre index M//2
        scale = 2 / (fine.shape[-1] - 1)
        self.points = (coords[inside] * oversampling * scale).to(torch.float32)
        self.offset = (fine.shape[-1] // 2) * scale - 1
        values = volume.reshape(-1)[inside].to(torch.float64)
        self.values = values - values.mean()  # a constant background then scores the same everywhere
        self.norm = self.values.square().sum().clamp_min(torch.finfo(torch.float64).tiny)
        self.operators = operators.to(device=volume.device, dtype=torch.float64)

    def __call__(self, rotations: torch.Tensor) -> torch.Tensor:
        """Scores (n,) of rotations (n, 3, 3)."""
        a = rotations.to(self.operators)
        conjugated = a.transpose(-1, -2)[:, None] @ self.operators @ a[:, None]  # (n, k, 3, 3) Aᵀ g A
        flat = conjugated.reshape(-1, 3, 3).to(torch.float32)
        step = max(1, CHUNK_SAMPLES // max(1, len(self.points)))
        sums = []
        for q in flat.split(step):
            grid = (self.points @ q.reshape(-1, 3).T).add_(self.offset)  # (P, c·3): Q·p for each Q, one GEMM
            grid = grid.reshape(len(self.points), len(q), 3).transpose(0, 1)
            values = F.grid_sample(self.volume, grid[None, :, :, None], mode="bilinear", padding_mode="zeros",
                                   align_corners=True)
            sums.append(values.reshape(len(q), -1).double() @ self.values)
        return torch.cat(sums).reshape(conjugated.shape[:2]).mean(-1) / self.norm


def _contains(group: torch.Tensor, g: torch.Tensor, tol: float = 1e-6) -> bool:
    return bool(((group - g).abs().amax((-2, -1)) < tol).any())


def generating_operators(operators: torch.Tensor) -> torch.Tensor:
    """A small subset (m, 3, 3) of a group's operators (identity first) that generates all of them.

    Invariance under the generators is invariance under the group, and scoring against 2-3
    generators instead of every operator makes the search |G|/m times cheaper (20× for I).
    """
    chosen: list[torch.Tensor] = []
    span = operators[:1]
    for g in operators[1:]:
        if _contains(span, g):
            continue
        chosen.append(g)
        span, grown = operators[:1], True
        while grown:  # close the span under products with the chosen generators
            grown = False
            for p in (span[:, None] @ torch.stack(chosen)[None]).reshape(-1, 3, 3):
                if not _contains(span, p):
                    span, grown = torch.cat([span, p[None]]), True
    return torch.stack(chosen) if chosen else operators[:0]


def _local_steps(step: float, dtype: torch.dtype) -> torch.Tensor:
    """The 27 axis-angle perturbations {−step, 0, step}³ (radians), the null one first."""
    values = torch.tensor([0.0, -step, step], dtype=dtype)
    return torch.stack(torch.meshgrid(values, values, values, indexing="ij"), dim=-1).reshape(-1, 3)


def refine_locally(
    scorer: SymmetryScorer, starts: torch.Tensor, step_deg: float, final_step_deg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pattern search from rotations (m, 3, 3): move to the best of 27 neighbours exp(δ)·A, δ ∈ {−s, 0, s}³,
    halving s when the centre is best, until s < ``final_step_deg``. Returns (rotations, scores) (m, ...)."""
    current = starts.clone()
    step = math.radians(step_deg)
    best = scorer(current)
    while step >= math.radians(final_step_deg) - 1e-12:
        moves = axis_angle_to_matrix(_local_steps(step, current.dtype))  # (27, 3, 3)
        candidates = moves[None] @ current[:, None]  # (m, 27, 3, 3)
        scores = scorer(candidates.reshape(-1, 3, 3)).reshape(len(current), -1)
        top, where = scores.max(-1)
        improved = top > best + 1e-7
        current = torch.where(improved[:, None, None], candidates[torch.arange(len(current)), where], current)
        best = torch.where(improved, top, best)
        if not bool(improved.any()):
            step /= 2
    return current, best


def _distinct(rotations: torch.Tensor, scores: torch.Tensor, count: int, min_angle: float) -> torch.Tensor:
    """Indices of the ``count`` best-scoring rotations at least ``min_angle`` radians apart."""
    chosen: list[int] = []
    for index in torch.argsort(scores, descending=True).tolist():
        if all(float(angular_distance(rotations[index], rotations[c])) >= min_angle for c in chosen):
            chosen.append(index)
            if len(chosen) == count:
                break
    return torch.tensor(chosen, dtype=torch.long)


def align_symmetry(
    volume: torch.Tensor,
    sym: str,
    *,
    coarse_box: int = 24,
    fine_box: int = 64,
    coarse_order: int = 1,
    candidates: int = 6,
    final_step_deg: float = 0.25,
    progress: Callable[[str], None] | None = None,
) -> SymmetryAlignment:
    """The rotation that puts the symmetry axes of ``volume`` (N, N, N, centred) on RELION's axes for ``sym``.

    Scores every rotation of a HEALPix ``coarse_order`` grid (order 1: 576 rotations, 30° apart) on a
    copy Fourier-cropped to ``coarse_box``; refines the identity and the ``candidates`` best distinct
    ones by pattern search from half the grid step down to 2°; of those within NEAR_BEST of the best
    the smallest rotation wins (an aligned map stays as it is) and is refined on a ``fine_box``
    copy down to ``final_step_deg``. ``progress`` receives a line per stage.
    """
    report = progress or (lambda _line: None)
    ops = generating_operators(symmetry_operators(sym, torch.float64))
    size = volume.shape[-1]
    work = volume.to(torch.float64)
    if len(ops) == 0:
        return SymmetryAlignment(torch.eye(3, dtype=torch.float64), 1.0, 1.0)
    coarse = SymmetryScorer(rescale_box(work, min(coarse_box, size), 3), ops)
    grid = grid_rotations(coarse_order)
    scores = coarse(grid)
    step = 360.0 / (6 * 2**coarse_order)
    report(f"coarse search: {len(grid)} rotations on a {min(coarse_box, size)}-pixel box, best score {float(scores.max()):.4f}")
    identity = torch.eye(3, dtype=grid.dtype)[None]  # an already aligned map keeps its orientation
    starts = torch.cat([identity, grid[_distinct(grid, scores, candidates, math.radians(step))]])
    refined, refined_scores = refine_locally(coarse, starts, step / 2, 2.0)
    # equivalent answers (differing by the group's normaliser) score alike: take the smallest rotation
    tied = refined_scores >= refined_scores.max() - NEAR_BEST
    angles = torch.where(tied, angular_distance(refined, identity), torch.full_like(refined_scores, math.inf))
    best = int(angles.argmin())
    report(f"local refinement of {len(starts)} candidates: best score {float(refined_scores.max()):.4f}")
    fine = SymmetryScorer(rescale_box(work, min(fine_box, size), 3), ops)
    rotation, score = refine_locally(fine, refined[best : best + 1], 2.0, final_step_deg)
    report(f"fine refinement on a {min(fine_box, size)}-pixel box to {final_step_deg}°: score {float(score[0]):.4f}")
    return SymmetryAlignment(rotation[0], float(score[0]), float(scores.max()))
