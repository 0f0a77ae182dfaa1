"""What one E-step needs, and running it here or on Dask workers.

An :class:`EStepPlan` (model, search grid, image and E-step options, padding and point group)
builds the :class:`Expectation` and the empty :class:`SufficientStatistics` of an iteration, in
this process or on a worker. :func:`expect_parts` aligns one or more parts (an iteration's
particles, or Refine3D's two half-sets, each against its own plan): one after the other in
this process, or, inside :func:`vitreo.ml.distributed.distributed_estep`, split over the Dask
workers (:mod:`vitreo.ml.distributed`) with the same results up to the order of sums.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from vitreo.ml.batch import ImageOptions
from vitreo.ml.expectation import BatchProgress, EStepOptions, Expectation, SearchGrid
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.particles import ParticleSet
from vitreo.ml.scoring import GemmTimer
from vitreo.ml.statistics import SufficientStatistics


@dataclass(frozen=True)
class EStepPlan:
    """The model and options of one E-step (see the module docstring); ``padding`` is the
    back-projectors' oversampling, ``symmetry`` the point group imposed on 3D reconstructions."""

    model: MlModel
    grid: SearchGrid
    image_options: ImageOptions
    options: EStepOptions
    padding: float = 2.0
    symmetry: str = "C1"

    def expectation(self, device: torch.device | str, timer: GemmTimer | None = None) -> Expectation:
        """The E-step of this plan on ``device``."""
        return Expectation(self.model, self.grid, self.image_options, self.options, device, timer)

    def statistics(self, expectation: Expectation, particles: ParticleSet, device: torch.device | str) -> SufficientStatistics:
        """Empty statistics for ``expectation`` over all ``particles`` (ids index the whole set)."""
        model = self.model
        return SufficientStatistics(
            model.n_classes, model.ndim, model.box, expectation.pixels, particles.n_groups, len(particles),
            expectation.n_references, self.padding, device, self.symmetry,
        )


@dataclass(frozen=True)
class EStepPart:
    """Particles ``subset`` (ids; None: all) aligned against ``plan``, with an optional progress
    callback (particles of the part done so far)."""

    plan: EStepPlan
    subset: torch.Tensor | None = None
    progress: BatchProgress | None = None


def expect_parts(
    parts: Sequence[EStepPart],
    particles: ParticleSet,
    state: ParticleState,
    generator: torch.Generator | None,
    device: torch.device | str,
    timer: GemmTimer,
    allowed_classes: torch.Tensor | None = None,
) -> tuple[ParticleState, list[SufficientStatistics]]:
    """Align every part; returns the new state of all particles and each part's finished
    statistics. ``allowed_classes`` (n,) restricts each particle to one class."""
    from vitreo.ml.distributed import active_workers

    workers = active_workers()
    if workers is not None:
        return workers.expect(parts, particles, state, generator, device, timer, allowed_classes)
    statistics = []
    for part in parts:
        expectation = part.plan.expectation(device, timer)
        stats = part.plan.statistics(expectation, particles, device)
        state = expectation.run(particles, state, stats, generator, part.progress, subset=part.subset,
                                allowed_classes=allowed_classes)
        statistics.append(stats)
    return state, statistics


__all__ = ["EStepPlan", "EStepPart", "expect_parts"]
