"""De novo 3D initial model by stochastic gradient descent (RELION 3.0's relion_refine --sgd).

Start: a given map (low-pass filtered to the initial resolution) or, as RELION's --denovo_3dref,
each class reconstructed from all particles at random orientations (a featureless blob). Then
every SGD iteration (:mod:`vitreo.ml.sgd`) aligns a random subset with the engine's E-step
(HEALPix directions in the asymmetric unit × psi × offsets, adaptive oversampling), reconstructs
it (M-step, symmetrised, solvent-flattened inside the particle diameter) and moves the
references by a momentum step. The subset reconstruction is not regularised (no prior in any
shell): a signal power estimated from one small subset is far too low beyond the lowest shells
and its Wiener filter would stop the map from gaining resolution; averaging over subsets and
the resolution limit of the schedule take its place (cryoSPARC's ab initio does likewise). Iterations are written as RELION does: ``<prefix>_itNNN_classKKK.mrc``
and the _model, _data, _sampling and _optimiser STAR files, every ``write_iter`` iterations and
after the last. The hand of the result is undetermined (a mirror image fits the data as well).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vitreo.em.filters import lowpass
from vitreo.em.masks import soft_spherical_mask
from vitreo.em.symmetry import parse_symmetry, symmetrise_volume
from vitreo.io.errors import InputError
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, read_star, write_star
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
    state_rows,
)
from vitreo.ml.expectation import EStepOptions, SearchGrid
from vitreo.ml.files import (
    STAR_VERSION,
    OptimiserInfo,
    SavedIteration,
    iteration_path,
    read_iteration,
    sampling_block,
    write_iteration,
)
from vitreo.ml.initial import image_statistics
from vitreo.ml.maximisation import MStepOptions
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.optimiser import IterationSetup, IterationSummary, Progress, run_iteration
from vitreo.ml.particles import ParticleSet
from vitreo.ml.sampling import DirectionSampling, TranslationSampling
from vitreo.ml.sgd import SIGMA2_FUDGE_INITIAL, SgdSchedule, SgdStep, SubsetSampler, image_size_for, sigma2_fudge

START_NOISE = 0.05  # relative noise that makes classes started from one given map differ


@dataclass(frozen=True)
class InitialModelSettings:
    """Options of the SGD initial model; comments give RELION's job.star / relion_refine names.

    Angular and offset steps are the coarse ones (RELION's GUI gives the oversampled ones:
    sampling "15 degrees" is HEALPix order 1 here, offset_step 2 is 4 here)."""

    schedule: SgdSchedule = SgdSchedule()  # sgd_ini_iter ... sgd_fin_subset_size
    write_iter: int = 10  # sgd_write_iter (--sgd_write_iter)
    sigma2fudge_halflife: float = -1.0  # sgd_sigma2fudge_halflife, particles; <= 0: off
    stepsize: float = 0.5  # (--sgd_stepsize)
    momentum: float = 0.9  # (--mu)
    nr_classes: int = 1  # nr_classes (--K)
    tau_fudge: float = 4.0  # tau_fudge (--tau2_fudge)
    particle_diameter: float = 200.0  # particle_diameter (--particle_diameter), Å
    symmetry: str = "C1"  # sym_name (--sym)
    healpix_order: int = 1  # sampling (--healpix_order), coarse
    offset_range: float = 6.0  # offset_range (--offset_range), pixels
    offset_step: float = 4.0  # 2 x offset_step (--offset_step), pixels, coarse
    oversampling: int = 1  # (--oversampling)
    adaptive_fraction: float = 0.999  # (--adaptive_fraction)
    ctf: bool = True  # do_ctf_correction (--ctf)
    ctf_intact_first_peak: bool = False  # ctf_intact_first_peak
    zero_mask: bool = True  # (--zero_mask)
    solvent_flatten: bool = True  # do_solvent (--flatten_solvent)
    random_seed: int = 0  # (--random_seed)
    device: str | torch.device | None = None  # resolved by the caller; None: CPU

    def check(self, box: int, pixel_size: float) -> None:
        """Raise InputError (one line) for settings that cannot work with particles of ``box`` px."""
        s = self.schedule
        try:
            parse_symmetry(self.symmetry)
        except ValueError as err:
            raise InputError(None, str(err)) from None
        problems = [
            (self.nr_classes < 1, "the number of classes must be at least 1"),
            (s.n_iterations < 1, "there must be at least one SGD iteration"),
            (min(s.ini_iter, s.inbetween_iter, s.fin_iter) < 0, "SGD iteration counts cannot be negative"),
            (min(s.ini_subset, s.fin_subset) < 1, "SGD subset sizes must be at least 1"),
            (min(s.ini_resol, s.fin_resol) < 2 * pixel_size,
             f"SGD resolutions must be at least Nyquist ({2 * pixel_size:g} A)"),
            (self.write_iter < 1, "write every so many iterations: at least 1"),
            (not 0 < self.stepsize <= 1 or not 0 <= self.momentum < 1, "need 0 < stepsize <= 1 and 0 <= mu < 1"),
            (self.tau_fudge <= 0, "the regularisation parameter T must be positive"),
            (self.offset_step <= 0 or self.offset_range < 0, "offset step must be positive and range non-negative"),
            (not 0 <= self.healpix_order <= 6, "the HEALPix order must lie in 0-6"),
            (self.particle_diameter <= 0 or self.particle_diameter / pixel_size > box,
             f"the particle diameter must be positive and at most the box ({box * pixel_size:g} A)"),
        ]
        refuse(problems)

    def command(self, particles_star: str, out_prefix: str) -> str:
        """The equivalent command line, for the optimiser file."""
        return command_line(self, ["vitreo", "initial_model", "--i", particles_star, "--o", out_prefix], never=("device",))


@dataclass(frozen=True)
class InitialModelResult:
    """References (K, N, N, N), final model and particle state, the last files written and one
    summary per iteration run."""

    references: np.ndarray
    model: MlModel
    state: ParticleState
    files: dict[str, Path]
    iterations: list[IterationSummary]


def run_initial_model(
    particles: ParticleSet,
    out_prefix: str | Path,
    settings: InitialModelSettings,
    *,
    reference: torch.Tensor | None = None,
    saved: SavedIteration | None = None,
    progress: Progress | None = None,
    command: str | None = None,
    log: Log | None = None,
) -> InitialModelResult:
    """Run the SGD iterations (after ``saved``'s, when continuing) and write their files.

    ``reference`` (N, N, N) is a start map at the particles' pixel size (None: random start).
    A continuation restarts the momentum at zero (RELION's files do not keep it) and draws new
    random subsets.
    """
    box, pixel = particles.box, particles.pixel_size
    settings.check(box, pixel)
    say = log or (lambda message: None)
    device = torch.device(settings.device or "cpu")
    schedule = settings.schedule
    radius = settings.particle_diameter / (2 * pixel)
    image_mask = soft_spherical_mask((box, box), radius, MASK_EDGE_PX)
    volume_mask = soft_spherical_mask((box,) * 3, radius, MASK_EDGE_PX)
    image_options = image_options_of(image_mask, settings)
    post_process = _post_process(volume_mask if settings.solvent_flatten else None, settings.symmetry)
    first = 1 if saved is None else saved.iteration + 1
    generator = torch.Generator().manual_seed(settings.random_seed + first - 1)
    if saved is not None:
        _check_continuation(saved, particles, settings)
        model, state = saved.model, saved.state
    else:
        state = ParticleState.initial(particles.offsets)
        model = _start_model(particles, settings, image_options, reference, post_process, device, generator, say)
    sampler = SubsetSampler(len(particles), generator)
    step = SgdStep(settings.stepsize, settings.momentum)
    command = command or settings.command(str(particles.table.path), str(out_prefix))
    seen = sum(schedule.subset_size(i) for i in range(1, first))
    summaries: list[IterationSummary] = []
    files: dict[str, Path] = {}
    for iteration in range(first, schedule.n_iterations + 1):
        resolution = schedule.resolution(iteration)
        size = image_size_for(resolution, box, pixel)
        ids = sampler.draw(schedule.subset_size(iteration))
        perturbation = random_perturbation(generator)
        setup = _setup(settings, image_options, volume_mask, post_process, size, resolution, perturbation, device)
        fudge = sigma2_fudge(seen, settings.sigma2fudge_halflife)
        e_model = replace(model, sigma2_noise=model.sigma2_noise * fudge, current_size=size)
        subset_model, subset_state, summary = run_iteration(
            iteration, schedule.n_iterations, _subset(particles, ids), e_model, state_rows(state, ids), setup,
            generator=generator, progress=progress,
        )
        model = step.apply(model, subset_model, subset_model.class_distribution > 0, setup.mstep.min_resolution_shell)
        model = replace(model, current_size=size, current_resolution=resolution,
                        class_resolution=torch.full((model.n_classes,), resolution))
        _put_rows(state, ids, subset_state)
        seen += len(ids)
        summaries.append(summary)
        say(
            f"SGD iteration {iteration}/{schedule.n_iterations}: {len(ids)} particles, resolution limit "
            f"{resolution:.1f} A (image size {size}), noise x{fudge:.2f}, <pmax> {summary.avg_pmax:.3f}, "
            f"orientation changes {summary.changes_orientations:.1f} deg; {summary.seconds:.1f} s"
        )
        if iteration % settings.write_iter == 0 or iteration == schedule.n_iterations:
            sampling = sampling_block(
                setup.grid.orientations.step_deg, settings.offset_range, settings.offset_step, pixel, perturbation,
                settings.healpix_order, is_3d=True,
            ) | {"rlnHealpixOrder": settings.healpix_order, "rlnSymmetryGroup": settings.symmetry}
            optimiser = OptimiserInfo(command, _optimiser_values(settings, summary, len(ids), pixel))
            files = write_sgd_iteration(out_prefix, iteration, model, state, particles, sampling, optimiser)
    return InitialModelResult(model.references.numpy(), model, state, files, summaries)


def write_sgd_iteration(
    out_prefix: str | Path, iteration: int, model: MlModel, state: ParticleState, particles: ParticleSet,
    sampling: dict, optimiser: OptimiserInfo,
) -> dict[str, Path]:
    """RELION's files of a 3D iteration: one ``_classKKK.mrc`` per class, named in the _model.star."""
    files = write_iteration(out_prefix, iteration, model, state, particles, sampling, optimiser)
    names = []
    for k, volume in enumerate(model.references):
        path = iteration_path(out_prefix, iteration, f"class{k + 1:03d}.mrc")
        write_mrc(path, volume.float().numpy(), model.pixel_size)
        files[f"class{k + 1:03d}"] = path
        names.append(str(path))
    blocks = read_star(files["model"])
    classes = blocks["model_classes"]
    assert isinstance(classes, Table)
    classes["rlnReferenceImage"] = np.asarray(names, dtype=object)
    write_star(files["model"], blocks, version=STAR_VERSION)
    files.pop("classes", None)
    return files


def read_saved(optimiser_star: str | Path) -> SavedIteration:
    """An SGD iteration to continue from. Only one class can be read back for now (ml.files
    reads one 3D class file); several classes are refused with a one-line error."""
    general = read_star(optimiser_star).get("optimiser_general")
    model_star = general.get("rlnModelStarFile") if isinstance(general, dict) else None
    if model_star is not None and Path(str(model_star)).is_file():
        model_general = read_star(str(model_star)).get("model_general")
        if isinstance(model_general, dict) and int(model_general.get("rlnNrClasses", 1)) > 1:
            raise InputError(optimiser_star, "continuing an SGD run of several classes is not supported yet: "
                                             "start a new job from its run_itNNN_classKKK.mrc maps instead")
    return read_iteration(optimiser_star)


def _start_model(
    particles: ParticleSet, settings: InitialModelSettings, options: ImageOptions, reference: torch.Tensor | None,
    post_process: Callable[[torch.Tensor], torch.Tensor], device: torch.device, generator: torch.Generator, say: Log,
) -> MlModel:
    """Noise spectra from the images, then the start references: the given map low-passed to the
    initial resolution, or (RELION's --denovo_3dref) every particle back-projected at a random
    orientation into a random class."""
    box, pixel, k = particles.box, particles.pixel_size, settings.nr_classes
    stats = image_statistics(particles, particles.offsets, options, device=device, generator=generator)
    ini_resol = settings.schedule.ini_resol
    model = first_model(
        torch.zeros(k, box, box, box), stats, particles, settings.tau_fudge,
        max(settings.offset_range, settings.offset_step), image_size_for(ini_resol, box, pixel),
    )
    if reference is not None:
        if tuple(reference.shape) != (box,) * 3:
            raise InputError(None, f"the start map is {tuple(reference.shape)}, the particles need {box}^3 voxels: "
                                   "rescale or re-box it (vitreo image handle --rescale)")
        start = lowpass(reference.float(), ini_resol, pixel)
        noise = lowpass(torch.randn((k, box, box, box), generator=generator), ini_resol, pixel)
        noise[0] = 0.0
        model.references = start + START_NOISE * float(start.std()) * noise / noise.std().clamp_min(1e-30)
        return model
    say(f"random start: {len(particles)} particles back-projected at random orientations into {k} class(es)")
    setup = _setup(settings, options, None, post_process, model.current_size, ini_resol, 0.0, device)
    seeds = random_seeds(len(particles), k, setup.grid, generator)
    state = ParticleState.initial(particles.offsets)
    started, _, _ = run_iteration(0, 0, particles, model, state, setup, seeds=seeds, generator=generator)
    model.references = lowpass(started.references, ini_resol, pixel)
    return model


def _setup(
    settings: InitialModelSettings, image_options: ImageOptions, volume_mask: torch.Tensor | None,
    post_process: Callable[[torch.Tensor], torch.Tensor], size: int, resolution: float, perturbation: float,
    device: torch.device,
) -> IterationSetup:
    """One iteration's grids (at the given perturbation) and E-/M-step options at ``size`` pixels."""
    grid = SearchGrid(
        DirectionSampling(settings.healpix_order, settings.oversampling, settings.symmetry, perturbation=perturbation),
        TranslationSampling(settings.offset_range, settings.offset_step, settings.oversampling, perturbation),
    )
    estep = EStepOptions(settings.adaptive_fraction, None, size)
    box = image_options.mask.shape[-1]
    mstep = MStepOptions(
        incr_size=0,
        min_resolution_shell=box // 2 + 1,
        highres_limit=resolution,
        solvent_mask=volume_mask if settings.solvent_flatten else None,
        image_mask=image_options.mask if image_options.background == "zero" else None,
        update_norm=False,
    )
    # accuracies steer auto-refine only: the SGD model files report them as unknown (999)
    return IterationSetup(grid, image_options, estep, mstep, post_process, device, accuracies=False)


def _post_process(mask: torch.Tensor | None, symmetry: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Symmetrise the references (K, N, N, N) over the point group, then flatten the solvent."""
    symmetric = parse_symmetry(symmetry).name != "C1"

    def apply(references: torch.Tensor) -> torch.Tensor:
        if symmetric:
            references = torch.stack([symmetrise_volume(ref, symmetry) for ref in references])
        return references if mask is None else references * mask.to(references)

    return apply


def _subset(particles: ParticleSet, ids: torch.Tensor) -> ParticleSet:
    """The particles ``ids`` as a set of their own, images read into memory."""
    return replace(
        particles,
        images=particles.images[ids],
        ctf=particles.ctf[ids] if particles.ctf is not None else None,
        groups=particles.groups[ids],
        offsets=particles.offsets[ids],
    )


def _put_rows(state: ParticleState, ids: torch.Tensor, rows: ParticleState) -> None:
    for name, value in rows.__dict__.items():
        getattr(state, name)[ids] = value.to(getattr(state, name))


def _check_continuation(saved: SavedIteration, particles: ParticleSet, settings: InitialModelSettings) -> None:
    model = saved.model
    if model.ndim != 3 or model.n_classes != settings.nr_classes:
        raise InputError(saved.data_star, f"the optimiser's model has {model.n_classes} {model.ndim}D classes, "
                                          f"not {settings.nr_classes} 3D ones")
    if len(saved.state) != len(particles) or model.box != particles.box or model.n_groups != particles.n_groups:
        raise InputError(saved.data_star, "the optimiser's model does not match its particles (number, box or groups)")


def _optimiser_values(
    settings: InitialModelSettings, summary: IterationSummary, subset_size: int, pixel: float
) -> dict[str, object]:
    """RELION's optimiser_general values of an SGD run (besides file names and the iteration)."""
    s = settings.schedule
    return {
        "rlnNumberOfIterations": s.n_iterations,
        "rlnDoStochasticGradientDescent": 1,
        "rlnSgdInitialIterations": s.ini_iter,
        "rlnSgdInBetweenIterations": s.inbetween_iter,
        "rlnSgdFinalIterations": s.fin_iter,
        "rlnSgdInitialResolution": s.ini_resol,
        "rlnSgdFinalResolution": s.fin_resol,
        "rlnSgdInitialSubsetSize": s.ini_subset,
        "rlnSgdFinalSubsetSize": s.fin_subset,
        "rlnSgdMuFactor": settings.momentum,
        "rlnSgdSigma2FudgeInitial": SIGMA2_FUDGE_INITIAL,
        "rlnSgdSigma2FudgeHalflife": int(settings.sigma2fudge_halflife),
        "rlnSgdSubsetSize": subset_size,
        "rlnSgdWriteEverySubset": settings.write_iter,
        "rlnSgdStepsize": settings.stepsize,
        "rlnDoSplitRandomHalves": 0,
        **sampling_option_values(settings, settings.solvent_flatten),
        "rlnIncrementImageSize": 0,
        "rlnDoMapEstimation": 1,
        **changes_values(summary.changes_classes, summary.changes_orientations, summary.changes_offsets, pixel),
        **correction_values(settings, norm=False, scale=True),
    }
