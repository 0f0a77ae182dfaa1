"""Gold-standard 3D auto-refinement (RELION's relion_refine --auto_refine --split_random_halves).

The particles are split into two half-sets (rlnRandomSubset, kept where given) that are refined
against their own references from the start: the only thing they share is the starting map,
low-pass filtered to ``ini_high``. Each iteration:

1. E-step of each half against its own reference (global, or local searches around the previous
   orientations once the sampling is fine, :mod:`vitreo.ml.local_search`);
2. the FSC between the halves' unregularised reconstructions (solvent-corrected with a user mask
   when asked) gives each half its signal power tau² = SSNR/⟨Σ c²/σ²⟩ (RELION's
   updateTau2WithFsc), and each half's regularised map (× the solvent mask);
3. RELION's auto-sampling decisions (:mod:`vitreo.ml.auto_sampling`), logged as " Auto-refine: ...".

After convergence a last iteration aligns both halves with all frequencies to Nyquist and joins
them: run_half1/2_class001_unfil.mrc (unregularised half-maps), run_class001.mrc (both halves,
regularised with the FSC), run_model.star (rlnGoldStandardFsc), run_data.star and a plot of the
angular distribution.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vitreo.em.fsc import resolution_at
from vitreo.em.geometry import euler_to_matrix
from vitreo.em.symmetry import symmetry_aware_angular_distance
from vitreo.io.errors import InputError
from vitreo.io.mrc import write_mrc
from vitreo.io.star import write_star
from vitreo.ml.accuracy import expected_accuracies
from vitreo.ml.auto_sampling import AutoSampling
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
    state_rows,
)
from vitreo.ml.estep_plan import EStepPart, EStepPlan, expect_parts
from vitreo.ml.expectation import EStepOptions, SearchGrid
from vitreo.ml.files import STAR_VERSION, OptimiserInfo, data_blocks, write_iteration, write_model
from vitreo.ml.half_sets import half_map_fsc, random_subsets
from vitreo.ml.maximisation import MStepOptions, maximise
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.optimiser import Progress, ProgressEvent, convergence, summarise_model
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
from vitreo.ml.scoring import GemmTimer
from vitreo.ml.statistics import SufficientStatistics


@dataclass(frozen=True)
class Refine3DSettings:
    """Options of 3D auto-refinement; comments give the job.star name and relion_refine option.
    Angular orders are HEALPix orders before oversampling (the GUI's step is one order finer);
    the offset step is the coarse one (the GUI's is after oversampling)."""

    ini_high: float = 60.0  # ini_high (--ini_high), Å
    symmetry: str = "C1"  # sym_name (--sym)
    healpix_order: int = 2  # sampling (--healpix_order)
    local_healpix_order: int = 4  # auto_local_sampling (--auto_local_healpix_order)
    auto_faster: bool = False  # auto_faster (--auto_ignore_angles --auto_resol_angles)
    offset_range: float = 5.0  # offset_range (--offset_range), pixels
    offset_step: float = 2.0  # 2 x offset_step (--offset_step), pixels
    particle_diameter: float = 200.0  # particle_diameter (--particle_diameter), Å
    zero_mask: bool = True  # do_zero_mask (--zero_mask)
    ctf: bool = True  # do_ctf_correction (--ctf)
    ctf_intact_first_peak: bool = False  # ctf_intact_first_peak (--ctf_intact_first_peak)
    absolute_greyscale: bool = True  # ref_correct_greyscale (no --firstiter_cc)
    solvent_fsc: bool = False  # do_solvent_fsc (--solvent_correct_fsc), needs a mask
    tau_fudge: float = 1.0  # (--tau2_fudge)
    oversampling: int = 1  # (--oversampling)
    adaptive_fraction: float = 0.999  # (--adaptive_fraction)
    norm_correction: bool = True  # (--norm)
    scale_correction: bool = True  # (--scale)
    incr_size: int = 10  # (--incr_size)
    max_iter: int = 50  # safety stop when convergence never comes
    random_seed: int = 0  # (--random_seed)
    threads: int = 1  # nr_threads (--j)
    device: str | None = None  # gpu_ids (--gpu); None: CPU
    batch_size: int | None = None  # nr_pool (--pool); None: automatic

    def check(self) -> None:
        """Raise InputError (one line) for settings that cannot work."""
        problems = [
            (self.ini_high <= 0, "the initial low-pass filter (ini_high) must be positive"),
            (not 0 <= self.healpix_order <= 7, "the HEALPix order must be 0 to 7"),
            (self.offset_step <= 0 or self.offset_range < 0, "offset step must be positive and range non-negative"),
            (not 0 <= self.oversampling <= 2, "oversampling must be 0 to 2"),
            (not 0 < self.adaptive_fraction <= 1, "the adaptive fraction must lie in (0, 1]"),
            (self.tau_fudge <= 0, "the regularisation parameter T must be positive"),
            (self.max_iter < 1, "the maximum number of iterations must be at least 1"),
            (self.threads < 1, "the number of threads must be at least 1"),
        ]
        refuse(problems)

    def command(self, particles_star: str | os.PathLike[str], reference: str | os.PathLike[str] | None, out_prefix: str | os.PathLike[str]) -> str:
        """The equivalent relion_refine-style command line."""
        words = ["vitreo", "refine3d", "--i", str(particles_star), "--ref", str(reference), "--o", str(out_prefix)]
        return command_line(self, words, always=("ini_high", "symmetry", "healpix_order"))


@dataclass(frozen=True)
class Refine3DResult:
    """The final map (N, N, N), half-maps, their FSC, gold-standard resolution (Å at 0.143),
    final particle state, the files written and per-iteration figures."""

    map: torch.Tensor
    half1: torch.Tensor
    half2: torch.Tensor
    fsc: torch.Tensor
    resolution: float
    state: ParticleState
    subsets: torch.Tensor
    files: dict[str, Path]
    iterations: list[dict[str, float]]
    particles: ParticleSet
    symmetry: str  # the point group refined in (a continued run's is that of its sampling file)


@dataclass
class _HalfStep:
    """One half's E-step output."""

    stats: SufficientStatistics
    unregularised: torch.Tensor


def run_refine3d(
    particles_star: str | os.PathLike[str],
    reference: str | os.PathLike[str] | None,
    out_prefix: str | os.PathLike[str],
    settings: Refine3DSettings,
    progress: Progress | None = None,
    *,
    mask: str | os.PathLike[str] | None = None,
    project_dir: str | os.PathLike[str] | None = None,
    continue_from: str | os.PathLike[str] | None = None,
    command: str | None = None,
    log: Log | None = None,
    loader: Callable[[Path], ParticleSet] | None = None,
) -> Refine3DResult:
    """Refine the particles of ``particles_star`` against ``reference`` until convergence, writing
    ``<out_prefix>_itNNN_*`` each iteration and the final files. ``mask``: a solvent mask (else a
    sphere of the particle diameter); ``continue_from``: an _optimiser.star of an earlier run.
    Paths in STAR files resolve against ``project_dir``; ``loader`` reads a particles STAR file
    (default: all images pre-read)."""
    run = start_run(settings, particles_star, project_dir, continue_from, loader, log)
    device, generator, saved, particles, say = run.device, run.generator, run.saved, run.particles, run.say
    box, pixel = particles.box, particles.pixel_size
    radius, image_options, solvent = particle_masks(settings, mask, particles)
    fsc_mask = solvent if (settings.solvent_fsc and mask) else None
    settings = replace(settings, symmetry=continued_symmetry(settings.symmetry, saved, say))
    if saved is not None:
        if saved.model2 is None or saved.sampling is None:
            raise InputError(continue_from, "is not the optimiser file of a gold-standard refinement (no rlnModelStarFile2)")
        for model in (saved.model, saved.model2):
            check_continuation(model, len(saved.state), particles, 1, continue_from)
        models = [saved.model, saved.model2]
        state, first = saved.state, saved.iteration + 1
        subsets = torch.from_numpy(particles.table.column("rlnRandomSubset", 0.0).astype(np.int64))
        auto = replace(AutoSampling.from_saved(saved.optimiser, saved.sampling, pixel, settings.oversampling),
                       faster=settings.auto_faster, particle_radius=settings.particle_diameter / 2)
    else:
        if reference is None:
            raise InputError(None, "a reference map is needed (fn_ref)")
        start = starting_reference(reference, particles, settings, radius)
        model = starting_model(
            start[None], particles, image_options, settings.tau_fudge, max(settings.offset_range, settings.offset_step),
            initial_size(box, pixel, settings.ini_high), device, generator,
        )
        models = [model, model.copy()]
        subsets = random_subsets(particles, generator)
        auto = AutoSampling(settings.healpix_order, settings.offset_range, settings.offset_step,
                            settings.oversampling, settings.local_healpix_order, incr_size=settings.incr_size,
                            faster=settings.auto_faster, particle_radius=settings.particle_diameter / 2).starting()
        angles = None if auto.sigma_angles is None else particles.input_angles(
            "local searches from the first iteration (an initial sampling as fine as auto_local_sampling)")
        state, first = ParticleState.initial(particles.offsets, angles=angles), 1
    halves = [torch.nonzero(subsets == h).squeeze(-1) for h in (1, 2)]
    if min(len(h) for h in halves) == 0:
        raise InputError(particles.table.path, "both half-sets need particles (rlnRandomSubset 1 and 2)")
    say(f"{len(particles)} particles of {box} px at {pixel:g} A/px; half-sets of {len(halves[0])} and {len(halves[1])}")
    command = command or settings.command(particles_star, reference, out_prefix)
    original = (settings.healpix_order, 0.0, settings.offset_range, settings.offset_step)
    figures: list[dict[str, float]] = []
    extra = {"rlnRandomSubset": subsets.numpy()}
    post_process = solvent_flattening(solvent)
    iteration = first
    final = auto.converged
    while True:
        if iteration > settings.max_iter and not final:
            say(f" Auto-refine: stopping after {settings.max_iter} iterations without convergence; joining the halves")
            final = True
        perturbation = random_perturbation(generator)
        grid = SearchGrid(
            DirectionSampling(auto.healpix_order, settings.oversampling, settings.symmetry, perturbation=perturbation,
                          perturb_directions=True),
            TranslationSampling(auto.offset_range, auto.offset_step, settings.oversampling, perturbation),
        )
        if final:
            models = [replace(m, current_size=box) for m in models]
        coarse = coarse_image_size(grid.orientations.step_deg, settings.particle_diameter, box, pixel, KEEPSAFE_3D)
        estep = EStepOptions(settings.adaptive_fraction, settings.batch_size, coarse, auto.sigma_angles, settings.symmetry)
        timer = GemmTimer()
        seconds = _now()
        progress_of = functools.partial(_reporter, progress, iteration, settings.max_iter, len(particles), len(halves[0]))
        new_state, steps = _expect_halves(
            particles, models, state, halves, grid, image_options, estep,
            settings.symmetry, device, generator, timer, progress_of,
        )
        estep_seconds = _now() - seconds
        curve = half_map_fsc(steps[0].unregularised, steps[1].unregularised, fsc_mask, generator).float()
        if final:
            return _finish(
                out_prefix, steps, curve, models, new_state, subsets, particles, settings, auto, perturbation, original, figures, say,
            )
        auto, incr = auto.image_size_step(curve, models[0].current_size, float(new_state.pmax[torch.cat(halves)].mean()), box)
        mstep = MStepOptions(
            incr_size=incr, solvent_mask=solvent, image_mask=particle_mask(radius, box, 3) if settings.zero_mask else None,
            update_scale=settings.scale_correction, update_norm=settings.norm_correction,
        )
        new_models = _maximise_halves(models, steps, curve, new_state, halves, mstep, post_process)
        for model, ids in zip(new_models, halves):
            model.accuracy_rotations, model.accuracy_translations = expected_accuracies(
                model, particles, ids, state_rows(new_state, ids), image_options, generator, device
            )
        size = max(m.current_size for m in new_models)
        resolution = min(m.current_resolution for m in new_models)
        models = [replace(m, current_size=size) for m in new_models]
        changes = convergence(state, new_state, settings.symmetry)
        state = new_state
        gold = resolution_at(curve, 0.143, pixel, box)
        acc_rot = float(torch.stack([m.accuracy_rotations for m in models]).mean())
        acc_trans = float(torch.stack([m.accuracy_translations for m in models]).mean())
        seconds = _now() - seconds
        figures.append({
            "iteration": iteration, "resolution": resolution, "gold_standard_resolution": gold, "image_size": size,
            "angular_step": auto.angular_step, "local": float(auto.sigma_angles is not None),
            "changes_orientations": changes[1], "changes_offsets_px": changes[2], "accuracy_rotations": acc_rot,
            "accuracy_translations_px": acc_trans, "seconds": seconds, "estep_seconds": estep_seconds,
            "gemm_gflop": timer.flops / 1e9, "gemm_seconds": timer.seconds,
        })
        say(f"iteration {iteration}: resolution {resolution:.1f} A (FSC 0.143: {gold:.1f} A), image size {size}, "
            f"angular step {auto.angular_step:g} deg, changes: {changes[1]:.2f} deg, {changes[2] * pixel:.2f} A; "
            f"accuracy {acc_rot:.2f} deg, {acc_trans * pixel:.2f} A; {seconds:.1f} s")
        say(f" Auto-refine: Estimated accuracy angles= {acc_rot:g} degrees; offsets= {acc_trans * pixel:g} Angstroms")
        auto = auto.after_iteration(resolution, changes[1], changes[2], changes[0], acc_rot, acc_trans, say, pixel, iteration)
        optimiser = OptimiserInfo(command, _optimiser_values(settings, auto, changes, acc_rot, acc_trans, pixel))
        sampling = sampling_values(
            grid.orientations.order, grid.orientations.step_deg, grid.translations.range_px, grid.translations.step_px,
            pixel, perturbation, settings.symmetry, original,
        )
        # the next iteration's sampling is recorded, so that a continuation goes on from it
        sampling.update({"rlnHealpixOrder": auto.healpix_order, "rlnOffsetRange": auto.offset_range * pixel,
                         "rlnOffsetStep": auto.offset_step * pixel})
        write_iteration(
            out_prefix, iteration, models[0], state, particles, sampling, optimiser,
            half_models=(models[0], models[1]), gold_fsc=curve, extra_columns=extra,
        )
        final = auto.converged
        iteration += 1


def _expect_halves(
    particles: ParticleSet,
    models: list[MlModel],
    state: ParticleState,
    halves: list[torch.Tensor],
    grid: SearchGrid,
    image_options: ImageOptions,
    estep: EStepOptions,
    symmetry: str,
    device: torch.device,
    generator: torch.Generator,
    timer: GemmTimer,
    progress_of: Callable[[int], Callable[[int], None]],
) -> tuple[ParticleState, list[_HalfStep]]:
    """E-step of each half-set against its own model; the new state of all particles and, per
    half, its statistics and unregularised reconstruction."""
    parts = [EStepPart(EStepPlan(models[h], grid, image_options, estep, 2.0, symmetry), ids, progress_of(h))
             for h, ids in enumerate(halves)]
    new_state, statistics = expect_parts(parts, particles, state, generator, device, timer)
    steps = [_HalfStep(stats, stats.backprojectors[0].reconstruct(method="division").cpu()) for stats in statistics]
    return new_state, steps


def _maximise_halves(
    models: list[MlModel],
    steps: list[_HalfStep],
    curve: torch.Tensor,
    state: ParticleState,
    halves: list[torch.Tensor],
    mstep: MStepOptions,
    post_process: Callable[[torch.Tensor], torch.Tensor],
) -> list[MlModel]:
    """M-step of each half with its signal power from the half-maps' FSC (tau² = SSNR/⟨Σc²/σ²⟩)."""
    new_models = []
    for h, step in enumerate(steps):
        backprojector = step.stats.backprojectors[0]
        tau2 = backprojector.tau2_from_fsc(curve.to(backprojector.weight.device)).float().cpu()
        half_model = maximise(models[h], step.stats, state, replace(mstep, tau2=tau2[None]), post_process)
        summarise_model(half_model, state_rows(state, halves[h]))
        new_models.append(half_model)
    return new_models


def _finish(
    prefix: str | os.PathLike[str],
    steps: list[_HalfStep],
    curve: torch.Tensor,
    models: list[MlModel],
    state: ParticleState,
    subsets: torch.Tensor,
    particles: ParticleSet,
    settings: Refine3DSettings,
    auto: AutoSampling,
    perturbation: float,
    original: tuple[int, float, float, float],
    figures: list[dict[str, float]],
    say: Log,
) -> Refine3DResult:
    """The last iteration: unregularised half-maps, the joined map regularised with tau² from
    their FSC (whole-map SSNR), and the final files."""
    box, pixel = particles.box, particles.pixel_size
    joined = steps[0].stats.backprojectors[0]
    joined.merge(steps[1].stats.backprojectors[0])
    tau2 = joined.tau2_from_fsc(curve.to(joined.weight.device), whole_map=True, fudge=settings.tau_fudge)
    final_map = joined.reconstruct(tau2=tau2, method="division").cpu()
    gold = resolution_at(curve, 0.143, pixel, box)
    files = {
        "half1": Path(f"{prefix}_half1_class001_unfil.mrc"),
        "half2": Path(f"{prefix}_half2_class001_unfil.mrc"),
        "map": Path(f"{prefix}_class001.mrc"),
        "model": Path(f"{prefix}_model.star"),
        "data": Path(f"{prefix}_data.star"),
        "sampling": Path(f"{prefix}_sampling.star"),
    }
    write_mrc(files["half1"], steps[0].unregularised.numpy(), pixel)
    write_mrc(files["half2"], steps[1].unregularised.numpy(), pixel)
    write_mrc(files["map"], final_map.numpy(), pixel)
    final_model = replace(
        models[0], references=final_map[None], current_size=box, current_resolution=gold,
        class_resolution=torch.tensor([gold]), class_distribution=torch.ones(1),
    )
    summarise_model(final_model, state)
    write_model(files["model"], final_model, particles, [str(files["map"])], gold_fsc=curve)
    write_star(files["data"], data_blocks(particles, state, {"rlnRandomSubset": subsets.numpy()}), version=STAR_VERSION)
    sampling = sampling_values(auto.healpix_order, 0.0, auto.offset_range, auto.offset_step, pixel, perturbation,
                               settings.symmetry, original)
    write_star(files["sampling"], {"sampling_general": sampling}, version=STAR_VERSION)
    say(f" Auto-refine: + Final reconstruction from all particles is saved as: {files['map']}")
    say(f" Auto-refine: + Final model parameters are stored in: {files['model']}")
    say(f" Auto-refine: + Final data parameters are stored in: {files['data']}")
    say(f" Auto-refine: + Final resolution (without masking) is: {gold:g}")
    return Refine3DResult(final_map, steps[0].unregularised, steps[1].unregularised, curve, gold, state, subsets,
                          files, figures, particles, settings.symmetry)


def _reporter(progress: Progress | None, iteration: int, n_iterations: int, total: int, offset: int, half: int) -> Callable[[int], None]:
    """E-step progress of one half as progress over all particles."""

    def report(done: int) -> None:
        if progress is not None:
            progress(ProgressEvent(iteration, n_iterations, "expectation", done + (offset if half else 0), total))

    return report


def _optimiser_values(
    settings: Refine3DSettings, auto: AutoSampling, changes: tuple[float, float, float], acc_rot: float, acc_trans: float, pixel: float
) -> dict[str, object]:
    """RELION's optimiser_general values of an auto-refinement (offsets in Å)."""
    return {
        "rlnNumberOfIterations": settings.max_iter,
        "rlnDoSplitRandomHalves": 1,
        "rlnJoinHalvesUntilThisResolution": -1.0,
        **sampling_option_values(settings),
        "rlnDoSolventFscCorrection": int(settings.solvent_fsc),
        "rlnDoMapEstimation": 1,
        "rlnDoAutoRefine": 1,
        **auto.optimiser_values(),
        "rlnDoSkipAlign": 0,
        "rlnDoSkipRotate": 0,
        "rlnOverallAccuracyRotations": acc_rot,
        "rlnOverallAccuracyTranslationsAngst": acc_trans * pixel,
        **changes_values(*changes, pixel),
        **correction_values(settings, settings.norm_correction, settings.scale_correction),
        "rlnMaxNumberOfPooledParticles": settings.batch_size or 0,
    }


def _now() -> float:
    return time.perf_counter()


def median_angular_error(state: ParticleState, truth_degrees: np.ndarray, symmetry: str) -> float:
    """Median symmetry-aware angle (degrees) between the refined orientations and true Euler
    angles (n, 3) in degrees (rot, tilt, psi)."""
    found = euler_to_matrix(*state.angles.double().unbind(-1))
    truth = euler_to_matrix(*torch.deg2rad(torch.from_numpy(np.asarray(truth_degrees, np.float64))).unbind(-1))
    return float(torch.rad2deg(symmetry_aware_angular_distance(found, truth, symmetry)).median())

