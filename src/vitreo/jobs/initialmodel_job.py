"""The InitialModel job type (RELION 3.0/3.1's "3D initial model" by SGD, ``relion.initialmodel``).

Runs :func:`vitreo.ml.initial_model.run_initial_model` on the input particles and writes, as
RELION does, ``run_itNNN_classKKK.mrc`` and the _model, _data, _sampling and _optimiser STAR
files every ``sgd_write_iter`` iterations and after the last, then ``initial_model.mrc`` (the
most populated class of the last iteration), as RELION 4/5 name it. Options are RELION 3.1's
(its SGD tab), with vitreo's ``fn_ref`` (an optional start map; empty: random start) and
``sgd_stepsize``. Continue from an _optimiser.star (fn_cont) for more iterations. The hand of
the map is undetermined: check it against known features and flip it with
``vitreo image handle --flip-x`` when needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.ml_options import (
    OPTIMISATION,
    SAMPLING,
    common_settings,
    compute_options,
    compute_settings,
    ctf_options,
    engine_run,
    input_options,
    mask_options,
    ml_job_spec,
    ml_running_options,
    offset_options,
    tau_fudge_option,
)
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.options_3d import SAMPLING_CHOICES as ANGULAR_SAMPLINGS
from vitreo.jobs.spec import JobSpec, OutputNode
from vitreo.ml.initial_model import InitialModelSettings, read_saved, run_initial_model
from vitreo.ml.sgd import SgdSchedule

OUTPUT_MAP = "initial_model.mrc"
MAP_LABEL = "DensityMap.mrc.relion.initialmodel"
DATA_LABEL = "ParticleGroupMetadata.star.relion.initialmodel"
OPTIMISER_LABEL = "OptimiserData.star.relion.initialmodel"
PREFIX = "run"
SGD = "SGD"
#: RELION's angular sampling choices down to 0.9 degrees (the oversampled step); HEALPix order = index.
SAMPLING_CHOICES = ANGULAR_SAMPLINGS[:6]
_NUM, _YES_NO = OptionKind.NUMBER, OptionKind.BOOLEAN


def _sgd_option(name: str, label: str, default: str, help_text: str, low: float, high: float) -> JobOption:
    return JobOption(name, label, default, _NUM, SGD, help_text, minimum=low, maximum=high, on_continue=True)


def _options() -> tuple[JobOption, ...]:
    return (
        *input_options(),
        JobOption("fn_ref", "Start from this map (optional):", "", OptionKind.INPUT_NODE, "I/O",
                  "(vitreo) A 3D map at the particles' box and pixel size to start from; it is low-pass filtered to "
                  "the initial SGD resolution. Leave empty for a random start, as RELION.",
                  node_type=node_types.MAP, pattern="Image Files (*.{spi,vol,mrc})"),
        *ctf_options(),
        JobOption("nr_classes", "Number of classes:", "1", _NUM, OPTIMISATION,
                  "The number of classes (K) for a multi-reference ab initio SGD refinement.", minimum=1, maximum=50),
        tau_fudge_option("4"),
        *mask_options(zero_mask=False),
        JobOption("do_solvent", "Flatten and enforce non-negative solvent?", "Yes", _YES_NO, OPTIMISATION,
                  "If set to Yes, the references are set to zero outside the spherical mask of the particle "
                  "diameter after every update."),
        JobOption("sym_name", "Symmetry:", "C1", OptionKind.TEXT, OPTIMISATION,
                  "Point group of the particle (C1, Cn, Dn, T, O, I...). SGD in C1 followed by a symmetry "
                  "search is often more robust."),
        JobOption("sampling", "Angular sampling interval:", "15 degrees", OptionKind.RADIO, SAMPLING,
                  "The angular sampling after adaptive oversampling (the coarse grid is twice as coarse).",
                  choices=SAMPLING_CHOICES, on_continue=True),
        *offset_options("6", "2"),
        _sgd_option("sgd_ini_iter", "Number of initial iterations:", "50",
                    "Iterations at the initial resolution and subset size.", 0, 300),
        _sgd_option("sgd_inbetween_iter", "Number of in-between iterations:", "200",
                    "Iterations in which resolution and subset size move linearly from the initial to the final "
                    "values.", 0, 500),
        _sgd_option("sgd_fin_iter", "Number of final iterations:", "50",
                    "Iterations at the final resolution and subset size.", 0, 300),
        _sgd_option("sgd_write_iter", "Write-out frequency (iter):", "10",
                    "Write the maps and STAR files every so many iterations (and after the last) for monitoring.",
                    1, 50),
        _sgd_option("sgd_ini_resol", "Initial resolution (A):", "35",
                    "The resolution limit (Å) of the initial iterations.", 10, 60),
        _sgd_option("sgd_fin_resol", "Final resolution (A):", "15",
                    "The resolution limit (Å) of the final iterations.", 5, 60),
        _sgd_option("sgd_ini_subset_size", "Initial mini-batch size:", "100",
                    "Particles per subset in the initial iterations.", 30, 300),
        _sgd_option("sgd_fin_subset_size", "Final mini-batch size:", "500",
                    "Particles per subset in the final iterations.", 100, 2000),
        _sgd_option("sgd_sigma2fudge_halflife", "Increased noise variance half-life:", "-1",
                    "When positive, the noise variance starts 8 times higher and its excess halves every so many "
                    "particles: helps against getting stuck in local optima. Negative: off.", -1, 10000),
        _sgd_option("sgd_stepsize", "SGD step size:", "0.5",
                    "(vitreo) RELION's --sgd_stepsize: the size of the momentum steps on the references.", 0.1, 1),
        *compute_options(gridding=True),
        *ml_running_options(),
    )


def _validate(params: Params) -> None:
    if not params.text("fn_img") and not params.text("fn_cont"):
        raise ValueError("give the particles (--fn_img) or an optimiser file to continue from (--fn_cont)")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [OutputNode(OUTPUT_MAP, MAP_LABEL)]


def settings_from(params: Params, device: str | None = None) -> InitialModelSettings:
    """The engine settings of a job's parameters (coarse sampling: half the GUI's)."""
    schedule = SgdSchedule(
        ini_iter=params.integer("sgd_ini_iter"),
        inbetween_iter=params.integer("sgd_inbetween_iter"),
        fin_iter=params.integer("sgd_fin_iter"),
        ini_resol=params.number("sgd_ini_resol"),
        fin_resol=params.number("sgd_fin_resol"),
        ini_subset=params.integer("sgd_ini_subset_size"),
        fin_subset=params.integer("sgd_fin_subset_size"),
    )
    return InitialModelSettings(
        schedule=schedule,
        write_iter=params.integer("sgd_write_iter"),
        sigma2fudge_halflife=params.number("sgd_sigma2fudge_halflife"),
        stepsize=params.number("sgd_stepsize"),
        nr_classes=params.integer("nr_classes"),
        tau_fudge=params.number("tau_fudge"),
        **common_settings(params),
        symmetry=params.text("sym_name"),
        healpix_order=SAMPLING_CHOICES.index(params.text("sampling")),
        solvent_flatten=params.flag("do_solvent"),
        device=device,
    )


def run(job_dir: Path, params: Params, ctx: JobContext) -> list[OutputNode]:
    """Run the SGD iterations and write initial_model.mrc; returns the last iteration's nodes."""
    on_gpu = compute_settings(params).device is not None
    settings = settings_from(params, str(ctx.backend.device) if on_gpu else None)
    with engine_run(job_dir, params, ctx, "InitialModel", use_ctf=settings.ctf) as engine:
        saved = read_saved(engine.fn_cont) if engine.fn_cont is not None else None
        source = str(saved.data_star) if saved is not None else params.text("fn_img")
        particles = engine.load(source)
        reference = _start_map(params.text("fn_ref"), particles.box, particles.pixel_size) if saved is None else None
        ctx.log.info(" SGD: %d iterations, subsets of %d to %d particles, resolution %g to %g A, %s start",
                     settings.schedule.n_iterations, settings.schedule.ini_subset, settings.schedule.fin_subset,
                     settings.schedule.ini_resol, settings.schedule.fin_resol,
                     "random" if reference is None and saved is None else "given")
        result = run_initial_model(
            particles, job_dir / PREFIX, settings, reference=reference, saved=saved,
            progress=engine.progress, log=engine.log,
        )
    if not result.files:
        raise InputError(engine.fn_cont, "nothing to do: the optimiser file is at or beyond the last SGD iteration")
    best = int(np.argmax(result.model.class_distribution.numpy()))
    write_mrc(job_dir / OUTPUT_MAP, result.references[best], particles.pixel_size)
    ctx.log.info(" Written %s (class %d); its hand is undetermined: flip it with `vitreo image handle --flip-x` "
                 "if needed", job_dir / OUTPUT_MAP, best + 1)
    files = result.files
    return [
        OutputNode(OUTPUT_MAP, MAP_LABEL),
        OutputNode(_relative(files["data"], job_dir), DATA_LABEL),
        OutputNode(_relative(files["optimiser"], job_dir), OPTIMISER_LABEL),
    ]


def _relative(path: Path, job_dir: Path) -> str:
    return str(Path(path).relative_to(job_dir)) if Path(path).is_relative_to(job_dir) else str(path)


def _start_map(path: str, box: int, pixel_size: float) -> torch.Tensor | None:
    """The start map, checked against the particles' box and pixel size (None when not given)."""
    if not path:
        return None
    volume, map_pixel = read_mrc(path)
    if volume.ndim != 3 or volume.shape != (box,) * 3:
        raise InputError(path, f"the start map is {'x'.join(map(str, volume.shape[::-1]))} voxels but the particles "
                               f"are {box} px: re-box it (vitreo image handle --rescale)")
    if map_pixel > 0 and abs(map_pixel - pixel_size) > 0.01 * pixel_size:
        raise InputError(path, f"the start map has {map_pixel:g} A/px but the particles {pixel_size:g} A/px: "
                               "rescale it (vitreo image handle --rescale --angpix)")
    return torch.from_numpy(np.asarray(volume, np.float32))


def job_spec() -> JobSpec:
    """The InitialModel job type."""
    return ml_job_spec(
        directory="InitialModel",
        type_label="relion.initialmodel",
        title="3D initial model",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        hidden_name=".gui_inimodel",
        summary="De novo 3D model by stochastic gradient descent (SGD), with random or given start.",
    )


__all__ = ["job_spec", "run", "settings_from"]
