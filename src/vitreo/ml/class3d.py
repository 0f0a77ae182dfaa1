"""3D classification (RELION's relion_refine for Class3D) as a Python function.

K classes start from one reference, checked against the particles (:mod:`vitreo.ml.reference3d`)
and low-pass filtered to ``ini_high``. In the first iteration each particle is aligned against
one random class only (RELION's random seeds), which breaks the symmetry between the identical
starting maps; later iterations are full EM iterations over classes × HEALPix directions × psi
× translations (:mod:`vitreo.ml.optimiser`), globally or, with ``sigma_angles``, locally around
the input orientations. Maps are reconstructed with the point group imposed, then multiplied by
the solvent mask (a user mask, or a sphere of the particle diameter). Each iteration writes
run_itNNN_classNNN.mrc and RELION's model, data, sampling and optimiser STAR files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vitreo.io.errors import InputError
from vitreo.ml.batch import ImageOptions
from vitreo.ml.driver import (
    Log,
    changes_values,
    command_line,
    continued_symmetry,
    correction_values,
    random_perturbation,
    refuse,
    sampling_option_values,
    start_run,
)
from vitreo.ml.expectation import EStepOptions, SearchGrid
from vitreo.ml.files import OptimiserInfo, write_iteration
from vitreo.ml.maximisation import MStepOptions
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.optimiser import IterationSetup, IterationSummary, Progress, run_iteration
from vitreo.ml.particles import ParticleSet
from vitreo.ml.reference3d import (
    check_continuation,
    initial_size,
    particle_mask,
    particle_masks,
    sampling_values,
    solvent_flattening,
    starting_model,
    starting_reference,
)
from vitreo.ml.sampling import KEEPSAFE_3D, DirectionSampling, TranslationSampling, coarse_image_size


@dataclass(frozen=True)
class Class3DSettings:
    """Options of 3D classification; comments give the job.star name and relion_refine option.
    The HEALPix order is before oversampling (the GUI's step is one order finer); the offset
    step is the coarse one (the GUI's is after oversampling)."""

    nr_classes: int = 4  # nr_classes (--K)
    nr_iter: int = 25  # nr_iter (--iter)
    tau_fudge: float = 4.0  # tau_fudge (--tau2_fudge)
    ini_high: float = 60.0  # ini_high (--ini_high), Å
    symmetry: str = "C1"  # sym_name (--sym)
    healpix_order: int = 1  # sampling (--healpix_order)
    offset_range: float = 5.0  # offset_range (--offset_range), pixels
    offset_step: float = 2.0  # 2 x offset_step (--offset_step), pixels
    sigma_angles: float | None = None  # sigma_angles if do_local_ang_searches (--sigma_ang), degrees
    particle_diameter: float = 200.0  # particle_diameter (--particle_diameter), Å
    zero_mask: bool = True  # do_zero_mask (--zero_mask)
    ctf: bool = True  # do_ctf_correction (--ctf)
    ctf_intact_first_peak: bool = False  # ctf_intact_first_peak (--ctf_intact_first_peak)
    absolute_greyscale: bool = True  # ref_correct_greyscale (no --firstiter_cc)
    highres_limit: float = -1.0  # highres_limit (--strict_highres_exp), Å
    oversampling: int = 1  # (--oversampling)
    adaptive_fraction: float = 0.999  # (--adaptive_fraction)
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
            (self.ini_high <= 0, "the initial low-pass filter (ini_high) must be positive"),
            (not 0 <= self.healpix_order <= 7, "the HEALPix order must be 0 to 7"),
            (self.offset_step <= 0 or self.offset_range < 0, "offset step must be positive and range non-negative"),
            (self.sigma_angles is not None and self.sigma_angles <= 0, "the local search sigma must be positive"),
            (not 0 <= self.oversampling <= 2, "oversampling must be 0 to 2"),
            (not 0 < self.adaptive_fraction <= 1, "the adaptive fraction must lie in (0, 1]"),
            (self.threads < 1, "the number of threads must be at least 1"),
        ]
        refuse(problems)

    def command(self, particles_star: str | os.PathLike[str], reference: str | os.PathLike[str] | None, out_prefix: str | os.PathLike[str]) -> str:
        """The equivalent relion_refine-style command line."""
        words = ["vitreo", "class3d", "--i", str(particles_star), "--ref", str(reference), "--o", str(out_prefix)]
        return command_line(self, words, always=("nr_classes", "nr_iter", "tau_fudge", "ini_high"))


@dataclass(frozen=True)
class Class3DResult:
    """Class maps (K, N, N, N), the final model and particle state, the last iteration's files
    and one summary per iteration run."""

    maps: np.ndarray
    model: MlModel
    state: ParticleState
    files: dict[str, Path]
    iterations: list[IterationSummary]
    particles: ParticleSet


def run_class3d(
    particles_star: str | os.PathLike[str],
    reference: str | os.PathLike[str] | None,
    out_prefix: str | os.PathLike[str],
    settings: Class3DSettings,
    progress: Progress | None = None,
    *,
    mask: str | os.PathLike[str] | None = None,
    project_dir: str | os.PathLike[str] | None = None,
    continue_from: str | os.PathLike[str] | None = None,
    command: str | None = None,
    log: Log | None = None,
    loader: Callable[[Path], ParticleSet] | None = None,
) -> Class3DResult:
    """Classify the particles of ``particles_star`` into ``settings.nr_classes`` 3D classes starting
    from ``reference``, writing ``<out_prefix>_itNNN_*``. ``mask``: a solvent mask for the maps;
    ``continue_from``: an _optimiser.star to go on from (up to ``settings.nr_iter``); ``loader``
    reads a particles STAR file (default: all images pre-read)."""
    run = start_run(settings, particles_star, project_dir, continue_from, loader, log)
    device, generator, saved, particles, say = run.device, run.generator, run.saved, run.particles, run.say
    box, pixel = particles.box, particles.pixel_size
    radius, image_options, solvent = particle_masks(settings, mask, particles)
    settings = replace(settings, symmetry=continued_symmetry(settings.symmetry, saved, say))
    if saved is not None:
        check_continuation(saved.model, len(saved.state), particles, settings.nr_classes, continue_from)
        model, state, first = saved.model, saved.state, saved.iteration + 1
    else:
        if reference is None:
            raise InputError(None, "a reference map is needed (fn_ref)")
        start = starting_reference(reference, particles, settings, radius)
        model = starting_model(
            start[None].repeat(settings.nr_classes, 1, 1, 1), particles, image_options, settings.tau_fudge,
            max(settings.offset_range, settings.offset_step), initial_size(box, pixel, settings.ini_high), device, generator,
        )
        state, first = _initial_state(particles, settings), 1
    say(f"{len(particles)} particles of {box} px at {pixel:g} A/px into {settings.nr_classes} classes")
    command = command or settings.command(particles_star, reference, out_prefix)
    summaries: list[IterationSummary] = []
    files: dict[str, Path] = {}
    original = (settings.healpix_order, 0.0, settings.offset_range, settings.offset_step)
    for iteration in range(first, settings.nr_iter + 1):
        perturbation = random_perturbation(generator)
        setup = _setup(settings, particles, image_options, solvent, radius, perturbation, device)
        allowed = None
        if iteration == 1 and settings.nr_classes > 1:
            allowed = torch.randint(0, settings.nr_classes, (len(particles),), generator=generator)
        model, state, summary = run_iteration(
            iteration, settings.nr_iter, particles, model, state, setup, generator=generator, progress=progress,
            allowed_classes=allowed,
        )
        summaries.append(summary)
        orientations = setup.grid.orientations
        sampling = sampling_values(
            settings.healpix_order, orientations.step_deg, settings.offset_range, settings.offset_step, pixel,
            perturbation, settings.symmetry, original,
        )
        optimiser = OptimiserInfo(command, _optimiser_values(settings, summary, pixel))
        files = write_iteration(out_prefix, iteration, model, state, particles, sampling, optimiser)
        shares = " ".join(f"{float(p):.2f}" for p in model.class_distribution)
        say(
            f"iteration {iteration}: resolution {summary.resolution:.1f} A, image size {summary.current_size}, "
            f"changes: classes {summary.changes_classes:.3f}, angles {summary.changes_orientations:.1f} deg, "
            f"offsets {summary.changes_offsets * pixel:.2f} A; class shares {shares}; {summary.seconds:.1f} s"
        )
    return Class3DResult(model.references.numpy(), model, state, files, summaries, particles)


def _initial_state(particles: ParticleSet, settings: Class3DSettings) -> ParticleState:
    """Particles at their input offsets (and, for local searches, their input orientations)."""
    local = settings.sigma_angles is not None
    return ParticleState.initial(particles.offsets, angles=particles.input_angles("local angular searches") if local else None)


def _setup(
    settings: Class3DSettings, particles: ParticleSet, image_options: ImageOptions, solvent: torch.Tensor,
    radius: float, perturbation: float, device: torch.device,
) -> IterationSetup:
    """One iteration's search grids and E-/M-step options; zero-masked images keep their noise
    within the sphere of the particle mask (``radius`` pixels)."""
    grid = SearchGrid(
        DirectionSampling(settings.healpix_order, settings.oversampling, settings.symmetry, perturbation=perturbation),
        TranslationSampling(settings.offset_range, settings.offset_step, settings.oversampling, perturbation),
    )
    coarse = coarse_image_size(grid.orientations.step_deg, settings.particle_diameter, particles.box, particles.pixel_size,
                               KEEPSAFE_3D)
    estep = EStepOptions(settings.adaptive_fraction, settings.batch_size, coarse, settings.sigma_angles, settings.symmetry)
    mstep = MStepOptions(
        incr_size=settings.incr_size,
        highres_limit=settings.highres_limit,
        solvent_mask=solvent,
        image_mask=particle_mask(radius, particles.box, 3) if settings.zero_mask else None,
        update_scale=settings.scale_correction,
        update_norm=settings.norm_correction,
    )
    return IterationSetup(grid, image_options, estep, mstep, solvent_flattening(solvent), device, symmetry=settings.symmetry)


def _optimiser_values(settings: Class3DSettings, summary: IterationSummary, pixel: float) -> dict[str, object]:
    """RELION's optimiser_general values of a 3D classification (offsets in Å)."""
    return {
        "rlnNumberOfIterations": settings.nr_iter,
        "rlnDoSplitRandomHalves": 0,
        **sampling_option_values(settings),
        "rlnHighresLimitExpectation": settings.highres_limit,
        "rlnIncrementImageSize": settings.incr_size,
        "rlnDoMapEstimation": 1,
        "rlnDoAutoRefine": 0,
        **changes_values(summary.changes_classes, summary.changes_orientations, summary.changes_offsets, pixel),
        **correction_values(settings, settings.norm_correction, settings.scale_correction),
        "rlnMaxNumberOfPooledParticles": settings.batch_size or 0,
    }

