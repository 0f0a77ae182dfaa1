"""One expectation-maximisation iteration, shared by 2D and 3D classification and refinement.

An iteration is: E-step over all particles (or, for RELION's random seeds, fixed assignments),
M-step, then a summary: log-likelihood, average pmax, per-class accuracies (posterior spreads)
and convergence statistics against the previous iteration (RELION's changes of optimal classes,
orientations and offsets).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from vitreo.em.geometry import euler_to_matrix
from vitreo.em.symmetry import symmetry_aware_angular_distance
from vitreo.ml.accuracy import expected_accuracies
from vitreo.ml.batch import ImageOptions
from vitreo.ml.estep_plan import EStepPart, EStepPlan, expect_parts
from vitreo.ml.expectation import EStepOptions, SearchGrid
from vitreo.ml.maximisation import MStepOptions, PostProcess, maximise
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.particles import ParticleSet
from vitreo.ml.scoring import GemmTimer


@dataclass(frozen=True)
class ProgressEvent:
    """Progress within an iteration: ``done`` of ``total`` particles in ``stage``."""

    iteration: int
    n_iterations: int
    stage: str
    done: int
    total: int


Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class IterationSummary:
    """Figures of one iteration. Changes are against the previous iteration: the fraction of
    particles that changed class, the mean change of orientation (degrees) and of offset (pixels)."""

    iteration: int
    resolution: float
    current_size: int
    changes_classes: float
    changes_orientations: float
    changes_offsets: float
    avg_pmax: float
    log_likelihood: float
    seconds: float
    estep_seconds: float
    gemm_flops: float
    gemm_seconds: float

    @property
    def gemm_gflops(self) -> float:
        return self.gemm_flops / self.gemm_seconds / 1e9 if self.gemm_seconds > 0 else 0.0


@dataclass(frozen=True)
class IterationSetup:
    """Everything an iteration needs besides the model and particle state."""

    grid: SearchGrid
    image_options: ImageOptions
    estep: EStepOptions
    mstep: MStepOptions
    post_process: PostProcess | None = None
    device: torch.device | str = "cpu"
    padding: float = 2.0
    symmetry: str = "C1"  # point group of 3D references, imposed in the reconstruction
    accuracies: bool = True  # estimate the expected accuracies (rlnAccuracyRotations, ...) after the M-step


def run_iteration(
    iteration: int,
    n_iterations: int,
    particles: ParticleSet,
    model: MlModel,
    state: ParticleState,
    setup: IterationSetup,
    *,
    seeds: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
    allowed_classes: torch.Tensor | None = None,
) -> tuple[MlModel, ParticleState, IterationSummary]:
    """One EM iteration. With ``seeds`` (n,) fine hypothesis ids, particles are not aligned but
    added with weight 1 there (RELION's first iteration without a reference); noise, scales,
    norms and the offset prior are then left as they are. ``allowed_classes`` (n,) aligns each
    particle within one class only (RELION's random seeds of 3D classification)."""
    start = time.perf_counter()
    timer = GemmTimer()
    plan = EStepPlan(model, setup.grid, setup.image_options, setup.estep, setup.padding, setup.symmetry)

    def report(done: int) -> None:
        if progress is not None:
            progress(ProgressEvent(iteration, n_iterations, "expectation", done, len(particles)))

    if seeds is None:
        part = EStepPart(plan, None, report)
        new_state, (stats,) = expect_parts([part], particles, state, generator, setup.device, timer, allowed_classes)
        mstep = setup.mstep
    else:
        expectation = plan.expectation(setup.device, timer)
        stats = plan.statistics(expectation, particles, setup.device)
        expectation.assign(particles, state, seeds, stats, generator)
        report(len(particles))
        new_state = state.copy()
        n_fine = setup.grid.orientations.n_coarse * setup.grid.orientations.n_children
        new_state.class_index = (seeds // n_fine).cpu()
        new_state.angles = setup.grid.orientations.fine_angles((seeds % n_fine).cpu()).double()
        mstep = replace(setup.mstep, update_noise=False, update_scale=False, update_norm=False, update_sigma_offset=False)
    estep_seconds = time.perf_counter() - start
    new_model = maximise(model, stats, new_state, mstep, setup.post_process)
    summarise_model(new_model, new_state, seeds is None)
    if seeds is None and setup.accuracies:
        new_model.accuracy_rotations, new_model.accuracy_translations = expected_accuracies(
            new_model, particles, torch.arange(len(particles)), new_state, setup.image_options,
            generator or torch.Generator().manual_seed(iteration), setup.device,
        )
    if progress is not None:
        progress(ProgressEvent(iteration, n_iterations, "maximisation", len(particles), len(particles)))
    changes = convergence(state, new_state, setup.symmetry) if seeds is None else (1.0, 0.0, 0.0)
    summary = IterationSummary(
        iteration=iteration,
        resolution=new_model.current_resolution,
        current_size=new_model.current_size,
        changes_classes=changes[0],
        changes_orientations=changes[1],
        changes_offsets=changes[2],
        avg_pmax=new_model.avg_pmax,
        log_likelihood=new_model.log_likelihood,
        seconds=time.perf_counter() - start,
        estep_seconds=estep_seconds,
        gemm_flops=timer.flops,
        gemm_seconds=timer.seconds,
    )
    return new_model, new_state, summary


def summarise_model(model: MlModel, state: ParticleState, aligned: bool = True) -> None:
    """Model-level figures from the particles: log-likelihood and ⟨pmax⟩ (accuracies unknown, 999,
    until :func:`vitreo.ml.accuracy.expected_accuracies` sets them)."""
    k = model.n_classes
    model.accuracy_rotations = torch.full((k,), 999.0, dtype=torch.float64)
    model.accuracy_translations = torch.full((k,), 999.0, dtype=torch.float64)
    if aligned:
        model.log_likelihood = float(state.log_likelihood.sum())
        model.avg_pmax = float(state.pmax.mean())


def convergence(old: ParticleState, new: ParticleState, symmetry: str = "C1") -> tuple[float, float, float]:
    """Fraction of particles changing class, mean orientation change (degrees) and mean offset
    change (pixels) between two states. Orientation changes are measured to the nearest symmetry
    copy (as RELION's calculateAngularDistance): a jump between equivalent views is no change."""
    classes = float((old.class_index != new.class_index).double().mean())
    a_old = euler_to_matrix(*old.angles.double().unbind(-1))
    a_new = euler_to_matrix(*new.angles.double().unbind(-1))
    angles = torch.rad2deg(symmetry_aware_angular_distance(a_new, a_old, symmetry))
    offsets = torch.linalg.vector_norm(new.offsets - old.offsets, dim=-1)
    return classes, float(angles.mean()), float(offsets.mean())
