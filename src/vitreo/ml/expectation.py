"""The E-step: posterior over classes × orientations × translations for every particle.

Per batch of particles, as RELION's adaptive oversampling (Scheres 2012, JSB 180:519):

1. coarse pass: every class × coarse orientation × coarse shift, scored on the pixels of the
   coarse image size (:func:`scoring.dense_scores`, one GEMM);
2. significance: per particle, the coarse hypotheses holding ``fraction`` of the posterior;
3. fine pass: the oversampled children of the significant (reference, shift) pairs, scored on the
   pixels of the current image size. Shifts are the chunk's union of significant shifts; the
   references are gathered per particle (its own significant references only, batched GEMMs),
   so the cost follows each particle's significant set and not the chunk's union, which grows
   with the posterior's width — unless the particles' own references are most of the union (wide
   posteriors, early iterations), which is then scored with shared projections in one GEMM;
   non-significant (reference, shift) entries are masked out;
4. the fine posterior (with class priors and the Gaussian prior on the absolute offset) is
   normalised, pruned to ``fraction`` again, and added to the sufficient statistics.

Reference ids: coarse r = class · n_coarse + orientation; fine h = class · n_fine + fine
orientation, the children of coarse orientation o being o · n_children + j (shifts alike).

Two per-particle restrictions narrow the search: local angular searches (``sigma_angles_deg``,
:mod:`vitreo.ml.local_search`: a Gaussian prior around each particle's previous orientation; only
the orientations within its range are projected and scored) and ``allowed_classes`` (one class
per particle, RELION's random seeds of 3D classification).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vitreo.ml.batch import ExperimentalBatch, ImageOptions, prepare_batch
from vitreo.ml.local_search import LocalPrior, searched_fraction
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.particles import ParticleSet
from vitreo.ml.pixels import FourierPixels
from vitreo.ml.posterior import normalise, prune, significance_threshold
from vitreo.ml.projection_cache import ProjectionCache
from vitreo.ml.references import ReferenceProjector
from vitreo.ml.sampling import OrientationSampling, TranslationSampling
from vitreo.ml.scoring import GemmTimer, StackedProjections, dense_scores, gathered_scores
from vitreo.ml.statistics import SufficientStatistics

#: Bound on the elements of one (particles × shifts × references) score block (float32).
BLOCK_ELEMENTS = 1 << 24
#: A fine-pass chunk is scored densely over its union of references when its widest particle's own
#: references are at least this fraction of that union.
DENSE_FRACTION = 0.7
#: Largest cache of fine-reference projections kept for the iteration (elements of R × F); also
#: bounds a local-search batch's table of candidate projections. 2^23 rather than 2^25: A3D-s peaks
#: at 1.95 GiB instead of 5.1 and the quick demo's Class3D at 2.1 GB instead of 4.2, at the same speed.
PROJECTION_TABLE_ELEMENTS = 1 << 23

BatchProgress = Callable[[int], None]


@dataclass(frozen=True)
class SearchGrid:
    """Orientations and translations searched in one iteration."""

    orientations: OrientationSampling
    translations: TranslationSampling


@dataclass(frozen=True)
class EStepOptions:
    """Adaptive fraction (RELION's --adaptive_fraction), particles per batch (None: automatic),
    the coarse image size (pixels) of the first pass, and for 3D local searches the σ (degrees)
    of the prior around each particle's previous orientation (None: global searches) and the
    point group the distances respect."""

    fraction: float = 0.999
    batch_size: int | None = None
    coarse_size: int | None = None
    sigma_angles_deg: float | None = None
    symmetry: str = "C1"


def batch_order(state: ParticleState) -> torch.Tensor:
    """Particles sorted by their previous class and angles, so that a batch shares hypotheses."""
    angles = state.angles.double().numpy()
    keys = (angles[:, 2], angles[:, 1], angles[:, 0], state.class_index.numpy())
    return torch.from_numpy(np.lexsort(keys))


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
        self.local = options.sigma_angles_deg is not None and orientations.ndim == 3
        self.device = device
        coarse = orientations.coarse_matrices().to(torch.float32)
        self.coarse_rotations = coarse.to(device)
        self.coarse_projections: StackedProjections | None = None
        if not self.local:
            classes = torch.arange(k).repeat_interleave(self.n_coarse)
            self.coarse_projections = StackedProjections.from_complex(
                self.references.project(classes, coarse.repeat(k, 1, 1), self.pixels, self.coarse_count)
            )
        self.coarse_shifts = grid.translations.coarse.to(device)
        self.fine_shifts = grid.translations.fine.to(device)
        self.coarse_phases = self.pixels.phases(self.coarse_shifts)[:, : self.coarse_count]
        self.fine_phases = self.pixels.phases(self.fine_shifts)
        self.n_references = k * self.n_coarse * self.n_children
        # fine projections kept for the iteration in a bounded cache: all made at once in 2D when
        # they fit (every class × angle is cheap and most are visited), as needed in 3D
        self._cache = ProjectionCache(
            self.n_references, len(self.pixels), PROJECTION_TABLE_ELEMENTS // max(1, len(self.pixels)),
            self._project_fine, device,
        )
        if orientations.ndim == 2 and self._cache.capacity == self.n_references:
            self._cache.fill_all()
        prior = model.class_distribution.to(device=device, dtype=torch.float32)
        self.log_class_prior = torch.log(prior.clamp_min(0.0))

    def batch_size(self) -> int:
        """Particles per batch: the given size, or as many as keep the coarse scores (and, for local
        searches, the projections of the batch's candidates) in bounds."""
        if self.options.batch_size:
            return self.options.batch_size
        n_refs = self.model.n_classes * self.n_coarse
        if self.local:
            n_refs = self.model.n_classes * max(1, math.ceil(4 * self.n_coarse * searched_fraction(self.options.sigma_angles_deg)))
        per_particle = self.coarse_shifts.shape[0] * n_refs
        size = BLOCK_ELEMENTS // max(1, per_particle)
        if self.local:  # the batch's union of candidates is projected at once: bound that table too
            size = min(size, PROJECTION_TABLE_ELEMENTS // max(1, n_refs * self.coarse_count))
        return int(max(16, min(512, size)))

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
        *,
        subset: torch.Tensor | None = None,
        allowed_classes: torch.Tensor | None = None,
    ) -> ParticleState:
        """Align every particle (or those of ``subset`` (m,) ids); returns the new state (norm
        corrections unchanged). ``allowed_classes`` (n,) restricts each particle to one class."""
        new = state.copy()
        step = self.batch_size()
        order = batch_order(state)
        if subset is not None:
            order = order[torch.isin(order, subset.cpu())]
        for start in range(0, len(order), step):
            ids = order[start : start + step]
            batch = prepare_batch(
                particles, ids, state.offsets[ids], state.norm[ids], self.model, self.pixels,
                self.image_options, generator,
            )
            prior = None
            if self.local:
                prior = LocalPrior.around(state.angles[ids], self.options.symmetry, self.options.sigma_angles_deg, self.device)
            allowed = None if allowed_classes is None else allowed_classes[ids].to(batch.data.device)
            result = self.align(batch, stats, prior, allowed)
            for name, value in result.items():
                getattr(new, name)[ids] = value.to(getattr(new, name)).cpu()
            if progress is not None:
                progress(min(start + step, len(order)))
        stats.finish()
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
        zero = torch.zeros(1, 2, dtype=torch.float64, device=self.fine_shifts.device)
        phases = self.pixels.phases(zero)
        step = self.batch_size()
        for start in range(0, len(particles), step):
            ids = torch.arange(start, min(start + step, len(particles)))
            batch = prepare_batch(
                particles, ids, state.offsets[ids], state.norm[ids], self.model, self.pixels,
                self.image_options, generator,
            )
            unique_ref, column = torch.unique(fine_refs[ids].to(batch.data.device), return_inverse=True)
            ref_class, rotation, projections = self._fine_references(unique_ref)
            weights = torch.nn.functional.one_hot(column, len(unique_ref)).float()[:, None, :]
            stats.add(batch, weights, projections, (unique_ref, ref_class, rotation), zero, phases, self.timer)
        stats.finish()

    def _fine_geometry(self, fine_refs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Classes (R,) and rotations (R, D, D) of fine reference ids (R,)."""
        n_fine = self.n_coarse * self.n_children
        rotation = self.grid.orientations.fine_matrices((fine_refs % n_fine).cpu())
        return fine_refs // n_fine, rotation.to(device=fine_refs.device, dtype=torch.float32)

    def _project_fine(self, fine_refs: torch.Tensor) -> StackedProjections:
        """Freshly computed projections of fine reference ids (R,)."""
        return StackedProjections.from_complex(self.references.project(*self._fine_geometry(fine_refs), self.pixels))

    def _fine_references(self, fine_refs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, StackedProjections]:
        """Classes (R,), rotations (R, D, D) and projections of distinct fine reference ids (R,),
        through the iteration's projection cache."""
        ref_class, rotation = self._fine_geometry(fine_refs)
        return ref_class, rotation, self._cache.get(fine_refs)

    def align(
        self,
        batch: ExperimentalBatch,
        stats: SufficientStatistics,
        prior: LocalPrior | None = None,
        allowed: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """E-step of one batch: add its statistics and return its best hypotheses (ParticleState fields).

        The fine pass runs in chunks of particles of similar width (significant coarse references,
        within 2×), then sorted by their best coarse reference, each chunk sized so that the
        gathered projections and scores of its widest particle stay within BLOCK_ELEMENTS: one
        uncertain particle does not shrink every chunk. ``prior``: local searches;
        ``allowed`` (B,) the one class each particle may take.
        """
        significant, best, coarse_ids = self._coarse_pass(batch, prior, allowed)
        n_shifts = int(significant.any(dim=2).any(dim=0).sum()) * self.grid.translations.n_children
        width = significant.any(dim=1).sum(dim=1)
        width_class = torch.ceil(torch.log2(width.clamp_min(1).double())).long()
        order = torch.from_numpy(np.lexsort((best.cpu().numpy(), width_class.cpu().numpy()))).to(best.device)
        counts = torch.unique_consecutive(width_class[order], return_counts=True)[1].tolist()
        parts, first = [], 0
        for count in counts:
            members = order[first : first + count]
            first += count
            n_refs = int(width[members].max()) * self.n_children
            per_row = n_shifts * 2 * len(self.pixels) + n_refs * (n_shifts + 3 * len(self.pixels))
            rows = max(1, BLOCK_ELEMENTS // max(1, per_row))
            for start in range(0, count, rows):
                chosen = members[start : start + rows]
                parts.append(self._fine_pass(
                    batch.select(chosen), significant[chosen], coarse_ids, stats,
                    None if prior is None else prior.select(chosen), None if allowed is None else allowed[chosen],
                ))
        result = {name: torch.cat([part[name] for part in parts]) for name in parts[0]}
        back = torch.argsort(order)
        result = {name: value[back] for name, value in result.items()}
        result["n_significant"] = significant.sum(dim=(1, 2))
        return result

    def _coarse_pass(
        self, batch: ExperimentalBatch, prior: LocalPrior | None, allowed: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The significant coarse hypotheses (B, T_c, C) bool of a batch over the coarse reference
        ids (C,) it searched, and each particle's most probable column (B,)."""
        n = len(batch)
        k = self.model.n_classes
        device = batch.data.device
        if prior is not None:
            return self._local_coarse_pass(batch, prior, allowed)
        coarse_ids = torch.arange(k * self.n_coarse, device=device)
        ref_class = coarse_ids // self.n_coarse
        scores = dense_scores(batch, self.coarse_projections, self.coarse_phases, self.timer)
        scores += self.log_class_prior[ref_class][None, None, :]
        scores += self._offset_log_prior(batch, self.coarse_shifts, self.grid.translations.step_px)[:, :, None]
        if allowed is not None:
            scores.masked_fill_((ref_class[None, :] != allowed[:, None])[:, None, :], float("-inf"))
        shape = scores.shape
        weights = normalise(scores.reshape(n, -1)).weights
        del scores
        best = weights.argmax(dim=1) % shape[2]
        threshold = significance_threshold(weights, self.options.fraction)
        significant = (weights >= threshold[:, None]) & (weights > 0)
        return significant.reshape(shape), best, coarse_ids

    def _local_coarse_pass(
        self, batch: ExperimentalBatch, prior: LocalPrior, allowed: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The coarse pass of local searches: each particle is scored only against the coarse
        orientations within its prior's range (columns gathered per particle, one batched GEMM);
        returns the same as :meth:`_coarse_pass`, over the batch's union of those orientations."""
        n, k = len(batch), self.model.n_classes
        device = batch.data.device
        orientation = prior.candidates(self.coarse_rotations, len(self.grid.orientations.psi))  # (U,)
        u = len(orientation)
        rotations = self.coarse_rotations[orientation]
        log_prior = prior.log_prior(rotations)  # (B, U)
        inside = torch.isfinite(log_prior)
        width = int(inside.sum(dim=1).max())
        columns = torch.argsort(inside.to(torch.int8), dim=1, descending=True, stable=True)[:, :width]  # (B, W)
        valid = inside.gather(1, columns)
        offsets = (torch.arange(k, device=device) * u)[None, :, None]
        own = (columns[:, None, :] + offsets).reshape(n, k * width)  # (B, K·W) into the K·U union
        coarse_ids = (torch.arange(k, device=device)[:, None] * self.n_coarse + orientation.to(device)[None]).reshape(-1)
        classes = torch.arange(k).repeat_interleave(u)
        projections = StackedProjections.from_complex(
            self.references.project(classes, rotations.repeat(k, 1, 1), self.pixels, self.coarse_count)
        )
        scores = gathered_scores(batch, projections, own, self.coarse_phases, self.timer)[0]  # (B, T, K·W)
        own_class = own // u
        extra = self.log_class_prior[own_class] + log_prior.gather(1, columns).masked_fill(~valid, float("-inf")).repeat(1, k)
        if allowed is not None:
            extra = extra.masked_fill(own_class != allowed[:, None], float("-inf"))
        scores += extra[:, None, :]
        scores += self._offset_log_prior(batch, self.coarse_shifts, self.grid.translations.step_px)[:, :, None]
        t = scores.shape[1]
        weights = normalise(scores.reshape(n, -1)).weights
        del scores
        best = own.gather(1, (weights.argmax(dim=1) % (k * width))[:, None])[:, 0]
        threshold = significance_threshold(weights, self.options.fraction)
        kept = ((weights >= threshold[:, None]) & (weights > 0)).reshape(n, t, k * width)
        significant = torch.zeros(n, t, k * u, dtype=torch.bool, device=device)
        significant.scatter_(2, own[:, None, :].expand(-1, t, -1), kept)
        return significant, best, coarse_ids

    def _fine_pass(
        self,
        batch: ExperimentalBatch,
        significant: torch.Tensor,
        coarse_ids: torch.Tensor,
        stats: SufficientStatistics,
        prior: LocalPrior | None = None,
        allowed: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Fine pass over the children of the significant coarse hypotheses (B, T_c, C) of a batch
        (columns: ``coarse_ids``)."""
        n = len(batch)
        device = batch.data.device
        n_coarse, n_children = self.n_coarse, self.n_children
        n_fine = n_coarse * n_children
        shift_children = self.grid.translations.n_children
        columns = torch.nonzero(significant.any(dim=1).any(dim=0)).squeeze(-1)
        coarse_refs = coarse_ids[columns]
        coarse_shifts = torch.nonzero(significant.any(dim=2).any(dim=0)).squeeze(-1)
        cls, orientation = coarse_refs // n_coarse, coarse_refs % n_coarse
        children = torch.arange(n_children, device=device)
        fine_refs = ((cls * n_fine + orientation * n_children)[:, None] + children).reshape(-1)
        shift_ids = (coarse_shifts[:, None] * shift_children + torch.arange(shift_children, device=device)).reshape(-1)
        mask = significant[:, coarse_shifts][:, :, columns]  # (B, T_c, C_u) over the chunk's unions
        own_coarse, valid = _own_columns(mask.any(dim=1))
        # where each particle's own references are most of the union (wide posteriors), scoring the
        # union with shared projections (one GEMM) beats gathering a copy per particle
        dense = DENSE_FRACTION * len(columns) <= own_coarse.shape[1]
        if dense:
            own_coarse = torch.arange(len(columns), device=device).expand(n, -1)
            valid = torch.ones_like(own_coarse, dtype=torch.bool)
        own = ((own_coarse * n_children)[:, :, None] + children).reshape(n, -1)  # (B, C) into fine_refs
        mask = mask.gather(2, own_coarse[:, None, :].expand(-1, mask.shape[1], -1)) & valid[:, None, :]
        mask = mask.repeat_interleave(shift_children, dim=1).repeat_interleave(n_children, dim=2)
        ref_class, rotation, projections = self._fine_references(fine_refs)
        own_class = ref_class[own]
        shifts, phases = self.fine_shifts[shift_ids], self.fine_phases[shift_ids]
        if dense:
            fine, own_projections = dense_scores(batch, projections, phases, self.timer), None  # (B, T, C)
        else:
            fine, own_projections = gathered_scores(batch, projections, own, phases, self.timer)  # (B, T, C)
        fine += (self.log_class_prior[own_class] - math.log(n_fine))[:, None, :]
        fine += self._offset_log_prior(batch, shifts, self.grid.translations.fine_step_px)[:, :, None]
        if prior is not None:
            fine += prior.log_prior(rotation).gather(1, own)[:, None, :]
        if allowed is not None:
            mask &= (own_class == allowed[:, None])[:, None, :]
        fine.masked_fill_(~mask, float("-inf"))
        del mask
        posterior = normalise(fine.reshape(n, -1))
        del fine
        pmax, best = posterior.weights.max(dim=1)
        width = own.shape[1]
        best_shift, best_ref = best // width, own.gather(1, (best % width)[:, None])[:, 0]
        weights = posterior.weights.reshape(n, len(shifts), width)
        pruned = prune(posterior.weights, self.options.fraction).reshape(weights.shape)
        del weights
        stats.add(
            batch, pruned, projections, (fine_refs, ref_class, rotation), shifts, phases, self.timer,
            columns=None if dense else own, own=own_projections,
        )
        return {
            "class_index": ref_class[best_ref],
            "angles": self.grid.orientations.fine_angles((fine_refs[best_ref] % n_fine).cpu()).to(device),
            "offsets": batch.offsets + shifts[best_shift].to(batch.offsets),
            "pmax": pmax,
            "log_likelihood": posterior.log_evidence - batch.data_term + batch.log_norm,
        }


def _own_columns(chosen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ``chosen`` (B, C) bool, its chosen column indices first, padded to the widest
    row with distinct unchosen ones: indices (B, W) and whether each is chosen (B, W)."""
    width = max(1, int(chosen.sum(dim=1).max()))
    columns = torch.argsort(chosen.to(torch.int8), dim=1, descending=True, stable=True)[:, :width]
    return columns, chosen.gather(1, columns)
