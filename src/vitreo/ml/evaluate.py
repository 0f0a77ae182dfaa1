"""2D classification measured against simulated truth (used by tests and benchmarks).

- :func:`match_projections`: for each class average, the projection of the true map (over
  directions of the symmetry's asymmetric unit × in-plane angles × small shifts) with the highest
  normalised correlation up to ``resolution`` Å, refined locally, and the FSC between the two.
- :func:`in_plane_errors`: for each particle, the predicted orientation Rz(ψ)·A_class against
  its true orientation (nearest symmetry copy); the error is the twist about the viewing axis.
- :func:`junk_separation`: how well junk gathers in classes of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vitreo.em.fourier import phase_shift
from vitreo.em.fsc import fsc, resolution_at
from vitreo.em.geometry import euler_to_matrix
from vitreo.em.masks import soft_spherical_mask
from vitreo.em.projector import Projector
from vitreo.em.sampling import asymmetric_unit_directions, psi_angles, translations
from vitreo.em.symmetry import proper_operators
from vitreo.em.geometry import rotation_angle
from vitreo.ml.pixels import FourierPixels, resolution_shell
from vitreo.ml.scoring import stack_complex


@dataclass(frozen=True)
class ClassMatch:
    """Per class: the best-matching projection's orientation A (K, 3, 3), the shift (K, 2) pixels
    that aligns the class to it, their normalised correlation (K,), FSC (K, N//2+1) and the
    resolution (Å) where that FSC first drops below 0.5 (K,), looking only at shells finer than
    ``fsc_from`` Å (the lowest shells hold a few pixels and, for some views, almost no power)."""

    rotations: torch.Tensor
    shifts: torch.Tensor
    scores: torch.Tensor
    fsc: torch.Tensor
    resolution_05: torch.Tensor


def _small_rotations(step_deg: float, count: int) -> torch.Tensor:
    """Rotations (count³, 3, 3) about x, y and z by multiples of ``step_deg`` (centred on 0)."""
    steps = (torch.arange(count, dtype=torch.float64) - (count - 1) / 2) * math.radians(step_deg)
    a, b, c = torch.meshgrid(steps, steps, steps, indexing="ij")
    rotvec = torch.stack([a, b, c], -1).reshape(-1, 3)
    angle = torch.linalg.vector_norm(rotvec, dim=-1).clamp_min(1e-12)
    axis = rotvec / angle[:, None]
    k = torch.zeros(len(rotvec), 3, 3, dtype=torch.float64)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(1, 2)
    eye = torch.eye(3, dtype=torch.float64)
    s, c1 = torch.sin(angle)[:, None, None], (1 - torch.cos(angle))[:, None, None]
    return eye + s * k + c1 * (k @ k)


class _Scorer:
    """Normalised correlations of class averages with projections of a map on low-pass pixels."""

    def __init__(self, classes: torch.Tensor, volume: torch.Tensor, pixels: FourierPixels):
        self.pixels = pixels
        self.projector = Projector(volume.float())
        box = classes.shape[-1]
        self.box = box
        values = pixels.gather(torch.fft.rfft2(classes.float())) * pixels.likelihood_weight.sqrt()
        self.classes = values / torch.linalg.vector_norm(values, dim=-1, keepdim=True).clamp_min(1e-30)

    def projections(self, rotations: torch.Tensor) -> torch.Tensor:
        slices = self.projector.project(rotations.float(), image_size=self.box)
        values = self.pixels.gather(slices) * self.pixels.likelihood_weight.sqrt()
        return values / torch.linalg.vector_norm(values, dim=-1, keepdim=True).clamp_min(1e-30)

    def best(self, candidates: torch.Tensor, shifts: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For each class: best score (K,), rotation index and shift index among candidates (C, 3, 3)
        shared by all classes, or (K, C, 3, 3) per class."""
        k = self.classes.shape[0]
        per_class = candidates.dim() == 4
        phases = self.pixels.phases(shifts)
        shifted = stack_complex(self.classes[:, None, :] * phases[None])  # (K, T, 2F)
        n_candidates = candidates.shape[-3]
        best = torch.full((k,), -2.0)
        best_rot = torch.zeros(k, dtype=torch.long)
        best_shift = torch.zeros(k, dtype=torch.long)
        for start in range(0, n_candidates, chunk):
            stop = min(start + chunk, n_candidates)
            if per_class:
                proj = stack_complex(self.projections(candidates[:, start:stop].reshape(-1, 3, 3))).reshape(k, stop - start, -1)
                scores = torch.einsum("kcf,ktf->kct", proj, shifted)
            else:
                proj = stack_complex(self.projections(candidates[start:stop]))
                scores = torch.einsum("cf,ktf->kct", proj, shifted)
            flat = scores.reshape(k, -1)
            value, where = flat.max(dim=1)
            better = value > best
            best = torch.where(better, value, best)
            best_rot = torch.where(better, where // shifts.shape[0] + start, best_rot)
            best_shift = torch.where(better, where % shifts.shape[0], best_shift)
        return best, best_rot, best_shift


def match_projections(
    classes: torch.Tensor,
    volume: torch.Tensor,
    pixel_size: float,
    symmetry: str = "C1",
    resolution: float = 10.0,
    mask_radius: float | None = None,
    fsc_from: float = 50.0,
) -> ClassMatch:
    """Best-matching projections of ``volume`` (N, N, N) for class averages (K, N, N) (see module)."""
    box = classes.shape[-1]
    shell = max(2, resolution_shell(resolution, box, pixel_size))
    pixels = FourierPixels.for_size(box, 2 * shell)
    scorer = _Scorer(classes, volume, pixels)
    directions = asymmetric_unit_directions(3, symmetry)
    psi = psi_angles(5.0)
    rot = directions.rot[:, None].expand(-1, len(psi))
    tilt = directions.tilt[:, None].expand(-1, len(psi))
    grid = euler_to_matrix(rot, tilt, psi[None, :].expand(len(directions.rot), -1)).reshape(-1, 3, 3)
    shifts = translations(2.0, 1.0)
    _, index, shift_index = scorer.best(grid, shifts)
    rotations, centre = grid[index], shifts[shift_index]
    scores = torch.zeros(len(rotations))
    for step, shift_step in ((1.5, 0.5), (0.5, 0.25)):
        candidates = _small_rotations(step, 7)[None] @ rotations[:, None]  # (K, C, 3, 3): R_delta · A
        local_shifts = centre[:, None, :] + translations(2 * shift_step, shift_step)[None]
        scores, rot_id, shift_id = _best_per_class(scorer, candidates, local_shifts)
        rows = torch.arange(len(rotations))
        rotations, centre = candidates[rows, rot_id], local_shifts[rows, shift_id]
    projections = torch.fft.irfft2(Projector(volume.float()).project(rotations.float(), image_size=box), s=(box, box))
    aligned = torch.fft.irfft2(phase_shift(torch.fft.rfft2(classes.float()), centre.float(), (box, box)), s=(box, box))
    mask = soft_spherical_mask((box, box), mask_radius if mask_radius is not None else box / 2 - 3, 3.0)
    curves = fsc(aligned * mask, projections * mask, ndim=2)
    first = resolution_shell(fsc_from, box, pixel_size)
    clipped = curves.double().clone()
    clipped[:, 1:first] = 1.0
    res = torch.tensor([resolution_at(c, 0.5, pixel_size, box, interpolate=False) for c in clipped])
    return ClassMatch(rotations, centre, scores, curves, res)


def _best_per_class(
    scorer: _Scorer, candidates: torch.Tensor, shifts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best score, candidate and shift per class for per-class candidates (K, C, 3, 3) and shifts (K, T, 2)."""
    k, t = shifts.shape[:2]
    proj = stack_complex(scorer.projections(candidates.reshape(-1, 3, 3))).reshape(k, candidates.shape[1], -1)
    phases = torch.stack([scorer.pixels.phases(s) for s in shifts])  # (K, T, F)
    shifted = stack_complex(scorer.classes[:, None, :] * phases)  # (K, T, 2F)
    scores = torch.einsum("kcf,ktf->kct", proj, shifted).reshape(k, -1)
    value, where = scores.max(dim=1)
    return value, where // t, where % t


def predicted_rotations(psi: torch.Tensor, classes: torch.Tensor, class_rotations: torch.Tensor) -> torch.Tensor:
    """Orientations Rz(ψ)·A_class (n, 3, 3) implied by 2D assignments (ψ radians, classes 0-based)."""
    zero = torch.zeros_like(psi, dtype=torch.float64)
    return euler_to_matrix(zero, zero, psi.double()) @ class_rotations.double()[classes]


def in_plane_errors(predicted: torch.Tensor, truth: torch.Tensor, symmetry: str = "C1") -> torch.Tensor:
    """Signed in-plane error (degrees, (n,)) of predicted orientations against the nearest
    symmetry copy A_true·L of the true ones: the twist about z of A_pred·(A_true·L)ᵀ."""
    operators = proper_operators(symmetry)
    copies = truth.double()[:, None] @ operators[None]  # (n, S, 3, 3)
    relative = predicted.double()[:, None] @ copies.transpose(-1, -2)
    nearest = rotation_angle(relative).argmin(dim=1)
    delta = relative[torch.arange(len(truth)), nearest]
    return torch.rad2deg(torch.atan2(delta[:, 0, 1] - delta[:, 1, 0], delta[:, 0, 0] + delta[:, 1, 1]))


def circular_spread(errors_deg: torch.Tensor) -> float:
    """Circular standard deviation (degrees) of angles in degrees."""
    angles = torch.deg2rad(errors_deg.double())
    r = torch.sqrt(torch.cos(angles).mean() ** 2 + torch.sin(angles).mean() ** 2).clamp(1e-12, 1.0)
    return math.degrees(math.sqrt(-2.0 * math.log(float(r))))


@dataclass(frozen=True)
class JunkSeparation:
    """Classes whose members are mostly junk, the fraction of all junk in them, and the fraction
    of all good particles in them."""

    junk_classes: list[int]
    junk_captured: float
    good_in_junk_classes: float


def junk_separation(classes: torch.Tensor, is_junk: torch.Tensor, n_classes: int) -> JunkSeparation:
    """Junk classes: classes where more than half the members are junk."""
    junk = torch.bincount(classes[is_junk], minlength=n_classes).double()
    good = torch.bincount(classes[~is_junk], minlength=n_classes).double()
    chosen = junk > good
    return JunkSeparation(
        torch.nonzero(chosen).squeeze(-1).tolist(),
        float(junk[chosen].sum() / junk.sum().clamp_min(1)),
        float(good[chosen].sum() / good.sum().clamp_min(1)),
    )
