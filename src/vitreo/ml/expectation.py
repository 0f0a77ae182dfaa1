"""The E-step: posterior over classes × orientations × translations for every particle.

Per batch of particles, as RELION's adaptive oversampling (Scheres 2012, JSB 180:519):

1. coarse pass: every class × coarse orientation × coarse shift, scored on the pixels of the
   coarse image size by the dense GEMM layout (:func:`scoring.dense_scores`);
2. significance: per particle, the coarse hypotheses holding ``fraction`` of the posterior;
3. fine pass: the oversampled children of each significant (class, orientation) with every fine
   shift, scored on the pixels of the current image size in the pairs layout;
4. the fine posterior (with class priors and the Gaussian prior on the absolute offset) is
   normalised, pruned to ``fraction`` again, and added to the sufficient statistics.

Hypothesis ids: coarse r = class · n_coarse + orientation; fine h = class · n_fine + fine
orientation, with the fine children of coarse orientation o at o · n_children + j.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vitreo.ml.batch import ExperimentalBatch, ImageOptions, prepare_batch
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.particles import ParticleSet
from vitreo.ml.pixels import FourierPixels
from vitreo.ml.posterior import normalise, prune, segment_argmax, segment_sum, significance_threshold
from vitreo.ml.references import ReferenceProjector
from vitreo.ml.sampling import OrientationSampling, TranslationSampling
from vitreo.ml.scoring import GemmTimer, dense_scores, pair_scores
from vitreo.ml.statistics import SufficientStatistics

#: Bound on the coarse scores (batch × shifts × references) held at once (float32).
COARSE_SCORE_ELEMENTS = 1 << 23

BatchProgress = Callable[[int], None]


@dataclass(frozen=True)
class SearchGrid:
    """Orientations and translations searched in one iteration."""

    orientations: OrientationSampling
    translations: TranslationSampling


@dataclass(frozen=True)
class EStepOptions:
    """Adaptive fraction (RELION's --adaptive_fraction), particles per batch (None: automatic),
    and the coarse image size (pixels) of the first pass."""

    fraction: float = 0.999
    batch_size: int | None = None
    coarse_size: int | None = None


class Expectation:
    """One iteration's E-step over all particles, accumulating into :class:`SufficientStatistics`."""

    def __init__(
        self,
        model: MlModel,
        grid: SearchGrid,
        image_options: ImageOptions,
        options: EStepOptions,
        device: torch.device | str = "cpu",
        timer: GemmTimer | None = None,
    ) -> None:
        self.model, self.grid, self.image_options, self.options = model, grid, image_options, options
        self.timer = timer or GemmTimer()
        self.pixels = FourierPixels.for_size(model.box, model.current_size, device)
        coarse_size = model.current_size if options.coarse_size is None else min(options.coarse_size, model.current_size)
        self.coarse_count = self.pixels.count(coarse_size)
        self.references = ReferenceProjector(model.references, device=device)
        orientations = grid.orientations
        self.n_coarse, self.n_children = orientations.n_coarse, orientations.n_children
        k = model.n_classes
        coarse = orientations.coarse_matrices().to(torch.float32)
        classes = torch.arange(k).repeat_interleave(self.n_coarse)
        self.coarse_projections = self.references.project(
            classes, coarse.repeat(k, 1, 1), self.pixels, self.coarse_count
        )
        self.coarse_shifts = grid.translations.coarse.to(device)
        self.fine_shifts = grid.translations.fine.to(device)
        self.coarse_phases = self.pixels.phases(self.coarse_shifts)[:, : self.coarse_count]
        self.fine_phases = self.pixels.phases(self.fine_shifts)
        prior = model.class_distribution.to(device=device, dtype=torch.float32)
        self.log_class_prior = torch.log(prior.clamp_min(0.0))

    def batch_size(self) -> int:
        """Particles per batch: the given size, or as many as keep the coarse scores in bounds."""
        if self.options.batch_size:
            return self.options.batch_size
        per_particle = self.coarse_shifts.shape[0] * self.coarse_projections.shape[0]
        return int(max(8, min(512, COARSE_SCORE_ELEMENTS // max(1, per_particle))))

    def _offset_log_prior(self, batch: ExperimentalBatch, shifts: torch.Tensor, cell: float) -> torch.Tensor:
        """log of the Gaussian prior mass on absolute offsets (B, T) = old offset + shift."""
        sigma2 = max(self.model.sigma_offset, 1e-3) ** 2
        absolute = batch.offsets[:, None, :] + shifts[None].to(batch.offsets)
        log_density = -absolute.square().sum(-1) / (2.0 * sigma2) - math.log(2.0 * math.pi * sigma2)
        return (log_density + math.log(cell * cell)).to(torch.float32)

    def run(
        self,
        particles: ParticleSet,
        state: ParticleState,
        stats: SufficientStatistics,
        generator: torch.Generator | None = None,
        progress: BatchProgress | None = None,
    ) -> ParticleState:
        """Align every particle; returns the new state (norm corrections unchanged)."""
        new = state.copy()
        step = self.batch_size()
        for start in range(0, len(particles), step):
            ids = torch.arange(start, min(start + step, len(particles)))
            batch = prepare_batch(
                particles, ids, state.offsets[ids], state.norm[ids], self.model, self.pixels,
                self.image_options, generator,
            )
            result = self.align(batch, stats)
            for name, value in result.items():
                getattr(new, name)[ids] = value.to(getattr(new, name)).cpu()
            if progress is not None:
                progress(int(ids[-1]) + 1)
        return new

    def assign(
        self,
        particles: ParticleSet,
        state: ParticleState,
        fine_refs: torch.Tensor,
        stats: SufficientStatistics,
        generator: torch.Generator | None = None,
    ) -> None:
        """Add every particle to the statistics with weight 1 on one fine hypothesis (n,) at its
        current offset, without alignment (RELION's random seeds of the first iteration)."""
        n_fine = self.n_coarse * self.n_children
        zero = torch.zeros(1, 2, dtype=torch.float64, device=self.fine_shifts.device)
        phases = self.pixels.phases(zero)
        for start in range(0, len(particles), self.batch_size()):
            ids = torch.arange(start, min(start + self.batch_size(), len(particles)))
            batch = prepare_batch(
                particles, ids, state.offsets[ids], state.norm[ids], self.model, self.pixels,
                self.image_options, generator,
            )
            unique_ref, pair_ref = torch.unique(fine_refs[ids].to(batch.data.device), return_inverse=True)
            ref_class, ref_orientation = unique_ref // n_fine, unique_ref % n_fine
            rotation = self.grid.orientations.fine_matrices(ref_orientation.cpu()).to(torch.float32)
            projections = self.references.project(ref_class, rotation, self.pixels)
            weights = torch.ones(len(ids), 1, device=batch.data.device)
            rows = torch.arange(len(ids), device=batch.data.device)
            stats.add(batch, rows, pair_ref, weights, projections, (ref_class, rotation), zero, phases, self.timer)

    def align(self, batch: ExperimentalBatch, stats: SufficientStatistics) -> dict[str, torch.Tensor]:
        """E-step of one batch: add its statistics and return its best hypotheses (ParticleState fields)."""
        n = len(batch)
        rows = torch.arange(n, device=batch.data.device)
        n_coarse, n_children = self.n_coarse, self.n_children
        # 1. coarse pass, dense over everything
        scores = dense_scores(batch, self.coarse_projections, self.coarse_phases, self.timer)
        step = self.grid.translations.step_px
        scores += self.log_class_prior.repeat_interleave(n_coarse)[None, None, :]
        scores += self._offset_log_prior(batch, self.coarse_shifts, step)[:, :, None]
        coarse = normalise(scores.reshape(n, -1), rows, n)
        threshold = significance_threshold(coarse.weights, rows, n, self.options.fraction)
        significant = (coarse.weights >= threshold[:, None]).reshape(scores.shape)
        n_significant = significant.sum(dim=(1, 2))
        del scores, coarse
        # 2. fine pass on the children of significant (class, orientation) pairs
        pair_particle, coarse_ref = torch.nonzero(significant.any(dim=1), as_tuple=True)
        cls, orientation = coarse_ref // n_coarse, coarse_ref % n_coarse
        n_fine = n_coarse * n_children
        children = torch.arange(n_children, device=cls.device)
        fine_ref = ((cls * n_fine + orientation * n_children)[:, None] + children).reshape(-1)
        pair_particle = pair_particle.repeat_interleave(n_children)
        unique_ref, pair_ref = torch.unique(fine_ref, return_inverse=True)
        ref_class, ref_orientation = unique_ref // n_fine, unique_ref % n_fine
        ref_rotation = self.grid.orientations.fine_matrices(ref_orientation.cpu()).to(torch.float32)
        projections = self.references.project(ref_class, ref_rotation, self.pixels)
        fine = pair_scores(batch, pair_particle, pair_ref, projections, self.fine_phases, self.timer)
        fine += (self.log_class_prior[ref_class] - math.log(n_fine))[pair_ref][:, None]
        fine += self._offset_log_prior(batch, self.fine_shifts, self.grid.translations.fine_step_px)[pair_particle]
        posterior = normalise(fine, pair_particle, n)
        del fine
        pmax, best_row, best_col = segment_argmax(posterior.weights, pair_particle, n)
        best_ref = pair_ref[best_row]
        rot_spread = _rotation_spread(posterior.weights, pair_particle, pair_ref, ref_rotation, best_ref, n)
        shift_spread = _shift_spread(posterior.weights, pair_particle, self.fine_shifts, best_col, n)
        # 3. statistics from the pruned posterior
        weights, _ = prune(posterior, pair_particle, n, self.options.fraction)
        keep = torch.nonzero(weights.sum(dim=1) > 0).squeeze(-1)
        kept_ref, kept_pair_ref = torch.unique(pair_ref[keep], return_inverse=True)
        stats.add(
            batch, pair_particle[keep], kept_pair_ref, weights[keep], projections[kept_ref],
            (ref_class[kept_ref], ref_rotation[kept_ref]), self.fine_shifts, self.fine_phases, self.timer,
        )
        log_likelihood = posterior.log_evidence - batch.data_term + batch.log_norm
        return {
            "class_index": ref_class[best_ref],
            "angles": self.grid.orientations.fine_angles(ref_orientation[best_ref].cpu()),
            "offsets": batch.offsets + self.fine_shifts[best_col].to(batch.offsets),
            "pmax": pmax,
            "n_significant": n_significant,
            "log_likelihood": log_likelihood,
            "rotation_spread": rot_spread,
            "shift_spread": shift_spread,
        }


def _rotation_spread(
    weights: torch.Tensor,
    owner: torch.Tensor,
    pair_ref: torch.Tensor,
    rotations: torch.Tensor,
    best_ref: torch.Tensor,
    n: int,
) -> torch.Tensor:
    """Posterior RMS angle (degrees) between each hypothesis's orientation and the best (n,)."""
    relative = rotations[pair_ref].transpose(-1, -2) @ rotations[best_ref][owner]
    angle = torch.rad2deg(rotation_angle(relative))
    return torch.sqrt(segment_sum(weights.sum(dim=1).double() * angle.double() ** 2, owner, n))


def _shift_spread(
    weights: torch.Tensor, owner: torch.Tensor, shifts: torch.Tensor, best_col: torch.Tensor, n: int
) -> torch.Tensor:
    """Posterior RMS distance (pixels) between each hypothesis's shift and the best (n,)."""
    distance2 = (shifts[None, :, :] - shifts[best_col][:, None, :]).square().sum(-1).to(weights)  # (n, T)
    return torch.sqrt(segment_sum((weights * distance2[owner]).double(), owner, n))


def rotation_angle(matrices: torch.Tensor) -> torch.Tensor:
    """Rotation angle (radians, [0, π]) of 2×2 or 3×3 rotation matrices (..., D, D)."""
    if matrices.shape[-1] == 2:
        return torch.atan2(matrices[..., 1, 0] - matrices[..., 0, 1], matrices[..., 0, 0] + matrices[..., 1, 1]).abs()
    trace = matrices.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.acos(((trace - 1.0) / 2.0).clamp(-1.0, 1.0))
