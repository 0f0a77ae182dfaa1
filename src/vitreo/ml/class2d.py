"""Reference-free 2D classification (RELION's relion_refine for Class2D) as a Python function.

The first iteration seeds the classes as RELION does without a reference: every particle goes,
unaligned, to a random class at a random in-plane angle. Later iterations are full EM iterations
(:mod:`vitreo.ml.optimiser`) over classes × in-plane angles × translations with adaptive
oversampling. Class averages are re-centred on their centre of mass and masked with the particle
diameter after every M-step. Each iteration writes RELION's run_itNNN_* files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitreo.em.fourier import phase_shift
from vitreo.em.masks import centred_radius, soft_spherical_mask
from vitreo.io.errors import InputError
from vitreo.ml.batch import ImageOptions
from vitreo.ml.driver import (
    MASK_EDGE_PX,
    Log,
    changes_values,
    command_line,
    correction_values,
    first_model,
    image_options_of,
    random_perturbation,
    random_seeds,
    refuse,
    sampling_option_values,
    start_run,
)
from vitreo.ml.expectation import BLOCK_ELEMENTS, PROJECTION_TABLE_ELEMENTS, EStepOptions, SearchGrid
from vitreo.ml.files import OptimiserInfo, sampling_block, write_iteration
from vitreo.ml.initial import image_statistics
from vitreo.ml.maximisation import MStepOptions
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.optimiser import IterationSetup, IterationSummary, Progress, run_iteration
from vitreo.ml.particles import ParticleSet, available_memory
from vitreo.ml.sampling import KEEPSAFE_2D, InPlaneSampling, TranslationSampling, coarse_image_size
from vitreo.ml.statistics import TABLE_ELEMENTS



@dataclass(frozen=True)
class Class2DSettings:
    """Options of 2D classification. Comments give the job.star name and the relion_refine option;
    RELION's GUI gives the final (oversampled) psi and offset steps, here they are the coarse ones."""

    nr_classes: int = 50  # nr_classes (--K)
    nr_iter: int = 25  # nr_iter_em (--iter)
    tau_fudge: float = 2.0  # tau_fudge (--tau2_fudge)
    particle_diameter: float = 200.0  # particle_diameter (--particle_diameter), Å; <= 0: the box
    zero_mask: bool = True  # do_zero_mask (--zero_mask); else the outside is filled with noise
    ctf: bool = True  # do_ctf_correction (--ctf)
    ctf_intact_first_peak: bool = False  # ctf_intact_first_peak (--ctf_intact_first_peak)
    highres_limit: float = -1.0  # highres_limit (--strict_highres_exp), Å; <= 0: none
    psi_step: float = 12.0  # 2 x psi_sampling (--psi_step), degrees, coarse
    offset_range: float = 5.0  # offset_range (--offset_range), pixels
    offset_step: float = 2.0  # 2 x offset_step (--offset_step), pixels, coarse
    oversampling: int = 1  # (--oversampling)
    adaptive_fraction: float = 0.999  # (--adaptive_fraction)
    center_classes: bool = True  # do_center (--center_classes)
    norm_correction: bool = True  # (--norm)
    scale_correction: bool = True  # (--scale)
    incr_size: int = 10  # (--incr_size)
    random_seed: int = 0  # (--random_seed)
    threads: int = 1  # nr_threads (--j)
    device: str | None = None  # gpu_ids (--gpu); None: CPU
    batch_size: int | None = None  # nr_pool (--pool); None: automatic

    def check(self) -> None:
        """Raise InputError (one line) for settings that cannot work."""
        problems = [
            (self.nr_classes < 1, "the number of classes must be at least 1"),
            (self.nr_iter < 1, "the number of iterations must be at least 1"),
            (self.tau_fudge <= 0, "the regularisation parameter T must be positive"),
            (self.psi_step <= 0 or self.psi_step > 180, "the psi step must lie in (0, 180] degrees"),
            (self.offset_step <= 0 or self.offset_range < 0, "offset step must be positive and range non-negative"),
            (not 0 <= self.oversampling <= 3, "oversampling must be 0 to 3"),
            (not 0 < self.adaptive_fraction <= 1, "the adaptive fraction must lie in (0, 1]"),
            (self.threads < 1, "the number of threads must be at least 1"),
            (self.batch_size is not None and self.batch_size < 1, "the batch size must be at least 1"),
        ]
        refuse(problems)

    def command(self, particles_star: str | os.PathLike[str], out_prefix: str | os.PathLike[str]) -> str:
        """The equivalent relion_refine-style command line."""
        words = ["vitreo", "class2d", "--i", str(particles_star), "--o", str(out_prefix)]
        return command_line(self, words, always=("nr_classes", "nr_iter", "tau_fudge"))


@dataclass(frozen=True)
class Class2DResult:
    """Class averages (K, N, N), the final model and particle state, the files of the last
    iteration, and one summary per iteration run."""

    classes: np.ndarray
    model: MlModel
    state: ParticleState
    files: dict[str, Path]
    iterations: list[IterationSummary]
    particles: ParticleSet


def run_class2d(
    particles_star: str | os.PathLike[str],
    out_prefix: str | os.PathLike[str],
    settings: Class2DSettings,
    progress: Progress | None = None,
    *,
    project_dir: str | os.PathLike[str] | None = None,
    continue_from: str | os.PathLike[str] | None = None,
    command: str | None = None,
    log: Log | None = None,
    loader: Callable[[Path], ParticleSet] | None = None,
) -> Class2DResult:
    """Classify the particles of ``particles_star`` into 2D classes, writing ``<out_prefix>_itNNN_*``.

    ``continue_from`` names an _optimiser.star to go on from (its iteration + 1 up to
    ``settings.nr_iter``, with the sampling of ``settings``). Paths in STAR files resolve against
    ``project_dir`` (default: the current directory). ``loader(star_path)`` reads the particles
    (default: all pre-read, see :func:`load_particles`).
    """
    run = start_run(settings, particles_star, project_dir, continue_from, loader, log)
    device, generator, saved, particles, say = run.device, run.generator, run.saved, run.particles, run.say
    box, pixel = particles.box, particles.pixel_size
    radius = _mask_radius(settings, box, pixel)
    image_options = image_options_of(soft_spherical_mask((box, box), radius, MASK_EDGE_PX), settings)
    say(f"{len(particles)} particles of {box} px at {pixel:g} A/px; estimated memory: "
        f"{memory_estimate(particles, settings) / 2**20:.0f} MiB (available: {available_memory() / 2**20:.0f} MiB)")
    if saved is not None:
        _check_continuation(saved.model, saved.state, particles, settings)
        model, state, first = saved.model, saved.state, saved.iteration + 1
    else:
        model, state = _initial_model(particles, settings, image_options, device, generator), ParticleState.initial(particles.offsets)
        first = 1
    command = command or settings.command(particles_star, out_prefix)
    summaries: list[IterationSummary] = []
    files: dict[str, Path] = {}
    for iteration in range(first, settings.nr_iter + 1):
        perturbation = random_perturbation(generator)
        setup = _setup(settings, particles, image_options, perturbation, radius, device)
        seeds = random_seeds(len(particles), model.n_classes, setup.grid, generator) if iteration == 1 else None
        model, state, summary = run_iteration(
            iteration, settings.nr_iter, particles, model, state, setup, seeds=seeds, generator=generator, progress=progress
        )
        summaries.append(summary)
        sampling = sampling_block(
            setup.grid.orientations.step_deg, settings.offset_range, settings.offset_step, pixel, perturbation
        )
        optimiser = OptimiserInfo(command, _optimiser_values(settings, summary, pixel))
        files = write_iteration(out_prefix, iteration, model, state, particles, sampling, optimiser)
        say(
            f"iteration {iteration}: resolution {summary.resolution:.1f} A, image size {summary.current_size}, "
            f"changes: classes {summary.changes_classes:.3f}, psi {summary.changes_orientations:.1f} deg, "
            f"offsets {summary.changes_offsets * pixel:.2f} A; <pmax> {summary.avg_pmax:.3f}; {summary.seconds:.1f} s"
        )
    return Class2DResult(model.references.numpy(), model, state, files, summaries, particles)


def _mask_radius(settings: Class2DSettings, box: int, pixel: float) -> float:
    """Particle mask radius (pixels); the diameter may not exceed the box."""
    if settings.particle_diameter <= 0:
        return box / 2 - MASK_EDGE_PX
    radius = settings.particle_diameter / (2 * pixel)
    if radius > box / 2:
        raise InputError(None, f"particle diameter {settings.particle_diameter:g} A exceeds the box ({box * pixel:g} A)")
    return radius


def memory_estimate(particles: ParticleSet, settings: Class2DSettings) -> int:
    """Bytes, at most: the pre-read images, the class back-projectors, the per-reference tables
    (projections and sums, at full size) and about six E-step score blocks."""
    box = particles.box
    images = particles.resident_bytes
    backprojectors = settings.nr_classes * (2 * box + 2) * (box + 2) * 12
    references = settings.nr_classes * math.ceil(360 / settings.psi_step) * (1 << settings.oversampling)
    pixels = box * box // 2
    tables = min(references * pixels, PROJECTION_TABLE_ELEMENTS) * 8 + min(references * pixels, TABLE_ELEMENTS) * 12
    return int(images + backprojectors + tables + 6 * BLOCK_ELEMENTS * 4)


def _initial_model(
    particles: ParticleSet, settings: Class2DSettings, options: ImageOptions, device: torch.device,
    generator: torch.Generator,
) -> MlModel:
    """Noise spectra from the images; every class starts as the average image, with no signal prior yet."""
    stats = image_statistics(particles, particles.offsets, options, device=device, generator=generator)
    references = stats.average[None].repeat(settings.nr_classes, 1, 1)
    return first_model(
        references, stats, particles, settings.tau_fudge, max(settings.offset_range, settings.offset_step), particles.box
    )


def _check_continuation(model: MlModel, state: ParticleState, particles: ParticleSet, settings: Class2DSettings) -> None:
    if model.n_classes != settings.nr_classes or model.ndim != 2:
        raise InputError(None, f"the optimiser file holds {model.n_classes} 2D classes, not {settings.nr_classes}")
    if len(state) != len(particles) or model.box != particles.box or model.n_groups != particles.n_groups:
        raise InputError(None, "the optimiser file's model does not match its data file (particles, box or groups)")


def _setup(
    settings: Class2DSettings,
    particles: ParticleSet,
    image_options: ImageOptions,
    perturbation: float,
    radius: float,
    device: torch.device,
) -> IterationSetup:
    """One iteration's search grids and E-/M-step options; the particle mask is also the solvent mask."""
    grid = SearchGrid(
        InPlaneSampling(settings.psi_step, settings.oversampling, perturbation),
        TranslationSampling(settings.offset_range, settings.offset_step, settings.oversampling, perturbation),
    )
    coarse = coarse_image_size(settings.psi_step, settings.particle_diameter, particles.box, particles.pixel_size, KEEPSAFE_2D)
    estep = EStepOptions(settings.adaptive_fraction, settings.batch_size, coarse)
    mstep = MStepOptions(
        incr_size=settings.incr_size,
        highres_limit=settings.highres_limit,
        solvent_mask=image_options.mask,
        image_mask=image_options.mask if image_options.background == "zero" else None,
        update_scale=settings.scale_correction,
        update_norm=settings.norm_correction,
    )
    post_process = _post_process(image_options.mask, radius, settings.center_classes)
    return IterationSetup(grid, image_options, estep, mstep, post_process, device)


def _post_process(mask: torch.Tensor, radius: float, center: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """Re-centre each class on the centre of mass of its positive density (if ``center``), then
    flatten the solvent: zero outside the soft particle mask."""

    def apply(references: torch.Tensor) -> torch.Tensor:
        if center:
            references = recentre(references, radius)
        return references * mask.to(references)

    return apply


def recentre(images: torch.Tensor, radius: float) -> torch.Tensor:
    """Shift images (K, N, N) so that the centre of mass of their positive values within
    ``radius`` pixels lies at N//2 (sub-pixel, by a Fourier shift)."""
    box = images.shape[-1]
    inside = (centred_radius((box, box), images.device, images.dtype) <= radius).to(images.dtype)
    density = images.clamp_min(0.0) * inside
    axis = torch.arange(box, device=images.device, dtype=images.dtype) - box // 2
    total = density.sum(dim=(-2, -1)).clamp_min(1e-30)
    com = torch.stack([(density.sum(-2) * axis).sum(-1), (density.sum(-1) * axis).sum(-1)], dim=-1) / total[:, None]
    shifted = phase_shift(torch.fft.rfft2(images), -com, (box, box))
    return torch.fft.irfft2(shifted, s=(box, box))


def _optimiser_values(settings: Class2DSettings, summary: IterationSummary, pixel: float) -> dict[str, object]:
    """RELION's optimiser_general values (besides file names and the iteration); offsets in Å."""
    return {
        "rlnNumberOfIterations": settings.nr_iter,
        "rlnDoSplitRandomHalves": 0,
        **sampling_option_values(settings),
        "rlnHighresLimitExpectation": settings.highres_limit,
        "rlnIncrementImageSize": settings.incr_size,
        "rlnDoMapEstimation": 1,
        **changes_values(summary.changes_classes, summary.changes_orientations, summary.changes_offsets, pixel),
        **correction_values(settings, settings.norm_correction, settings.scale_correction, settings.center_classes),
        "rlnMaxNumberOfPooledParticles": settings.batch_size or 0,
    }
