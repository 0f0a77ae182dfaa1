"""What the relion_refine drivers (Class2D, Class3D, Refine3D, SGD InitialModel) share: starting a
run (backend, random generator, particles, the iteration to continue from), the first model,
the per-iteration sampling perturbation and random seeds, rows of a particle state, the settings'
checks and command line, and RELION's common optimiser values.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

import torch

from vitreo.em.backend import Backend
from vitreo.io.errors import InputError
from vitreo.ml.batch import ImageOptions
from vitreo.ml.expectation import SearchGrid
from vitreo.ml.files import SavedIteration, read_iteration
from vitreo.ml.initial import ImageStatistics
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.particles import ParticleSet, load_particles

Log = Callable[[str], None]

MASK_EDGE_PX = 5  # RELION's --width_mask_edge
PERTURBATION_FACTOR = 0.5  # RELION's rlnSamplingPerturbFactor


class DriverSettings(Protocol):
    """The settings every driver has (job.star names in the drivers' settings classes)."""

    zero_mask: bool
    ctf: bool
    ctf_intact_first_peak: bool
    oversampling: int
    adaptive_fraction: float
    random_seed: int
    particle_diameter: float


class RunSettings(DriverSettings, Protocol):
    """The settings of a driver that :func:`start_run` starts."""

    threads: int
    device: str | None

    def check(self) -> None: ...


@dataclass(frozen=True)
class RunStart:
    """A driver's starting point: compute device, random generator (seeded with the settings'
    random seed), the saved iteration to continue from (or None), the particles and the log."""

    device: torch.device
    generator: torch.Generator
    saved: SavedIteration | None
    particles: ParticleSet
    say: Log


def refuse(problems: list[tuple[bool, str]]) -> None:
    """Raise InputError (one line) with the message of the first problem whose condition holds."""
    for bad, message in problems:
        if bad:
            raise InputError(None, message)


def command_line(settings: object, words: list[str], always: tuple[str, ...] = (), never: tuple[str, ...] = ()) -> str:
    """The equivalent command line: ``words``, then ``--field value`` for each field of the
    dataclass ``settings`` that differs from its default or is in ``always`` (never those in ``never``)."""
    defaults = type(settings)()
    parts = list(words)
    for f in fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, f.name)
        if f.name not in never and (value != getattr(defaults, f.name) or f.name in always):
            parts += [f"--{f.name}", str(value)]
    return shlex.join(parts)


def start_run(
    settings: RunSettings,
    particles_star: str | os.PathLike[str],
    project_dir: str | os.PathLike[str] | None,
    continue_from: str | os.PathLike[str] | None,
    loader: Callable[[Path], ParticleSet] | None,
    log: Log | None,
) -> RunStart:
    """Check the settings, activate the backend, seed the generator and read the particles: those
    of ``particles_star`` or, when continuing, the data file of the ``continue_from`` optimiser.
    Paths in STAR files resolve against ``project_dir``; ``loader`` reads a particles STAR file
    (default: all images pre-read)."""
    settings.check()
    project = Path(project_dir or ".")
    backend = Backend.from_options(settings.device, settings.threads)
    backend.activate()
    generator = torch.Generator().manual_seed(settings.random_seed)
    saved = read_iteration(continue_from, project) if continue_from is not None else None
    source = saved.data_star if saved is not None else Path(particles_star)
    particles = loader(source) if loader is not None else load_particles(source, project, use_ctf=settings.ctf)
    return RunStart(backend.device, generator, saved, particles, log or (lambda message: None))


def continued_symmetry(symmetry: str, saved: SavedIteration | None, say: Log) -> str:
    """The point group of a run: when continuing, the one recorded in the sampling file (as
    relion_refine --continue reads it), whatever the job's own setting."""
    recorded = saved.sampling.get("rlnSymmetryGroup") if saved is not None and saved.sampling else None
    if recorded is None or str(recorded).upper() == symmetry.upper():
        return symmetry
    say(f" Continuing in {recorded}, the symmetry of the run continued (not {symmetry})")
    return str(recorded)


def image_options_of(mask: torch.Tensor, settings: DriverSettings) -> ImageOptions:
    """The images' mask (``mask``), background (zeros or noise) and CTF options of the settings."""
    return ImageOptions(mask, "zero" if settings.zero_mask else "noise", settings.ctf, settings.ctf_intact_first_peak)


def first_model(
    references: torch.Tensor, stats: ImageStatistics, particles: ParticleSet, tau2_fudge: float, sigma_offset: float,
    current_size: int,
) -> MlModel:
    """Model of the first iteration: the references (K, N, N[, N]), noise spectra from the images'
    statistics, equal class priors, no signal prior yet, the image size limited to ``current_size``."""
    k, n_shells = references.shape[0], particles.box // 2 + 1
    return MlModel(
        references=references.float(),
        class_distribution=torch.full((k,), 1.0 / k),
        sigma2_noise=stats.sigma2,
        scale=torch.ones(particles.n_groups),
        tau2=torch.zeros(k, n_shells),
        ssnr=torch.zeros(k, n_shells),
        completeness=torch.zeros(k, n_shells),
        pixel_size=particles.pixel_size,
        tau2_fudge=tau2_fudge,
        sigma_offset=sigma_offset,
        current_size=current_size,
        current_resolution=math.inf,
        group_counts=stats.group_counts,
    )


def state_rows(state: ParticleState, ids: torch.Tensor) -> ParticleState:
    """The particles ``ids`` (a tensor of indices) of a state, as a new state."""
    return ParticleState(**{name: value[ids] for name, value in state.__dict__.items()})


def random_perturbation(generator: torch.Generator) -> float:
    """RELION's random perturbation of the sampling grids, uniform in ±PERTURBATION_FACTOR."""
    return float(torch.rand(1, generator=generator)) * 2 * PERTURBATION_FACTOR - PERTURBATION_FACTOR


def random_seeds(n: int, n_classes: int, grid: SearchGrid, generator: torch.Generator) -> torch.Tensor:
    """Fine hypothesis ids (n,): a random class and a random fine orientation for each particle."""
    n_fine = grid.orientations.n_coarse * grid.orientations.n_children
    classes = torch.randint(0, n_classes, (n,), generator=generator)
    angles = torch.randint(0, n_fine, (n,), generator=generator)
    return classes * n_fine + angles


def sampling_option_values(settings: DriverSettings, solvent_flattening: bool = True) -> dict[str, object]:
    """RELION's optimiser_general values of the oversampling, seed and masks."""
    return {
        "rlnAdaptiveOversampleOrder": settings.oversampling,
        "rlnAdaptiveOversampleFraction": settings.adaptive_fraction,
        "rlnRandomSeed": settings.random_seed,
        "rlnParticleDiameter": settings.particle_diameter,
        "rlnWidthMaskEdge": MASK_EDGE_PX,
        "rlnDoZeroMask": int(settings.zero_mask),
        "rlnDoSolventFlattening": int(solvent_flattening),
    }


def changes_values(classes: float, orientations: float, offsets_px: float, pixel: float) -> dict[str, object]:
    """RELION's optimiser_general values of the changes of the last iteration (offsets in Å)."""
    return {
        "rlnChangesOptimalOrientations": orientations,
        "rlnChangesOptimalOffsets": offsets_px * pixel,
        "rlnChangesOptimalClasses": classes,
    }


def correction_values(
    settings: DriverSettings, norm: bool, scale: bool, center_classes: bool | None = None
) -> dict[str, object]:
    """RELION's optimiser_general values of the norm, scale and CTF corrections (and, for 2D,
    the re-centring of the classes)."""
    center = {} if center_classes is None else {"rlnDoCenterClasses": int(center_classes)}
    return {
        "rlnDoCorrectNorm": int(norm),
        "rlnDoCorrectScale": int(scale),
        "rlnDoCorrectCtf": int(settings.ctf),
        **center,
        "rlnDoIgnoreCtfUntilFirstPeak": int(settings.ctf_intact_first_peak),
        "rlnRefsAreCtfCorrected": 1,
    }
