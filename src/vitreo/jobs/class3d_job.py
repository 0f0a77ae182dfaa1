"""The Class3D job type (RELION's "3D classification", relion_refine with --K and a 3D reference).

Classifies the particles of ``fn_img`` into ``nr_classes`` 3D classes starting from ``fn_ref``
(:func:`vitreo.ml.class3d.run_class3d`). Each iteration writes RELION's ``run_itNNN_classNNN.mrc``,
``_model.star``, ``_data.star``, ``_optimiser.star`` and ``_sampling.star``; the output nodes are
the last iteration's _data.star, _optimiser.star and class maps. The GUI's angular and offset
steps are the final (oversampled) ones. Continue from any iteration's _optimiser.star (fn_cont).
Not available: classification without alignment (dont_skip_align No), helical classification,
relaxed symmetry and the fast-subsets option (recorded only).
"""

from __future__ import annotations

from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.jobs.context import JobContext
from vitreo.jobs.ml_options import (
    OPTIMISATION,
    SAMPLING,
    alignment_option,
    class_count,
    common_settings,
    compute_options,
    compute_settings,
    ctf_options,
    engine_run,
    highres_option,
    input_options,
    iterations_option,
    mask_options,
    ml_job_spec,
    ml_running_options,
    offset_options,
    require_inputs,
    tau_fudge_option,
)
from vitreo.jobs.options import JobOption, OptionKind, Params, unavailable_option
from vitreo.jobs.options_3d import healpix_order, reference_options, reference_settings, sampling_option
from vitreo.jobs.spec import JobSpec, OutputNode
from vitreo.ml.class3d import Class3DSettings, run_class3d

PREFIX = "run"
DATA_LABEL = "ParticleGroupMetadata.star.relion.class3d"
OPTIMISER_LABEL = "OptimiserData.star.relion.class3d"
MAP_LABEL = "DensityMap.mrc.relion.class3d"


def _options() -> tuple[JobOption, ...]:
    num, yes_no = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        *input_options(),
        *reference_options("60"),
        *ctf_options(),
        JobOption("nr_classes", "Number of classes:", "1", num, OPTIMISATION,
                  "The number of classes (K). More classes cost proportionally more time.", minimum=1, maximum=50),
        tau_fudge_option("4"),
        iterations_option("nr_iter", "25"),
        JobOption("do_fast_subsets", "Use fast subsets (for large data sets)?", "No", yes_no, OPTIMISATION,
                  "Kept for RELION compatibility (vitreo always uses all particles)."),
        *mask_options(zero_mask=True, default_diameter="200"),
        highres_option(),
        alignment_option(),
        sampling_option("7.5 degrees"),
        *offset_options("5", "1"),
        JobOption("do_local_ang_searches", "Perform local angular searches?", "No", yes_no, SAMPLING,
                  "If Yes, orientations are searched only around each particle's input orientation (a Gaussian prior "
                  "of the width below); the input needs rlnAngleRot/Tilt/Psi.", on_continue=True),
        JobOption("sigma_angles", "Local angular search range:", "5", num, SAMPLING,
                  "The standard deviation (degrees) of the Gaussian prior on the angles; ± 3 of it are searched.",
                  minimum=0, maximum=15, on_continue=True),
        unavailable_option("relax_sym", "Relax symmetry:", "", OptionKind.TEXT, SAMPLING),
        JobOption("allow_coarser", "Allow coarser sampling?", "No", yes_no, SAMPLING,
                  "Kept for RELION compatibility (vitreo's sampling is as given).", on_continue=True),
        *compute_options(pad1=True, gridding=True, pool_default="3"),
        *ml_running_options(),
    )


def _validate(params: Params) -> None:
    require_inputs(params, "classify", reference=True)
    if not params.flag("dont_skip_align"):
        raise ValueError("3D classification without alignment is not available in vitreo (dont_skip_align)")
    if params.text("relax_sym"):
        raise ValueError("relaxed symmetry is not available in vitreo (relax_sym)")
    healpix_order(params)


def _output_nodes(params: Params) -> list[OutputNode]:
    return _nodes(params.integer("nr_iter"), class_count(params))


def _nodes(iteration: int, n_classes: int) -> list[OutputNode]:
    stem = f"{PREFIX}_it{iteration:03d}"
    maps = [OutputNode(f"{stem}_class{k + 1:03d}.mrc", MAP_LABEL) for k in range(n_classes)]
    return [OutputNode(f"{stem}_data.star", DATA_LABEL), OutputNode(f"{stem}_optimiser.star", OPTIMISER_LABEL), *maps]


def settings_from(params: Params) -> Class3DSettings:
    """The engine settings of a Class3D job's parameters (coarse offset step: twice the GUI's)."""
    compute = compute_settings(params)
    return Class3DSettings(
        nr_classes=class_count(params),
        nr_iter=params.integer("nr_iter"),
        tau_fudge=params.number("tau_fudge"),
        **common_settings(params),
        **reference_settings(params),
        sigma_angles=params.number("sigma_angles") if params.flag("do_local_ang_searches") else None,
        zero_mask=params.flag("do_zero_mask"),
        highres_limit=params.number("highres_limit"),
        threads=compute.threads,
        device=compute.device,
    )


def run(job_dir: Path, params: Params, ctx: JobContext) -> list[OutputNode]:
    """Classify, writing run_itNNN_* for every iteration; returns the last iteration's nodes."""
    settings = settings_from(params)
    prefix = job_dir / PREFIX
    with engine_run(job_dir, params, ctx, "Class3D", use_ctf=settings.ctf) as engine:
        ctx.log.info(" Classifying into %d 3D classes, %d iterations%s", settings.nr_classes, settings.nr_iter,
                     f", continuing from {engine.fn_cont}" if engine.fn_cont else "")
        result = run_class3d(
            params.text("fn_img"), params.text("fn_ref") or None, prefix, settings, engine.progress,
            mask=params.text("fn_mask") or None,
            continue_from=engine.fn_cont,
            command=settings.command(engine.source, params.text("fn_ref") or None, prefix),
            log=engine.log,
            loader=engine.load,
        )
    if not result.iterations:
        raise InputError(engine.fn_cont, f"already at iteration {settings.nr_iter} or beyond: ask for more iterations (nr_iter)")
    last = result.iterations[-1]
    ctx.log.info(" Done: %d iterations, resolution %.1f A; written %s", len(result.iterations), last.resolution,
                 result.files["model"])
    return _nodes(last.iteration, settings.nr_classes)


def job_spec() -> JobSpec:
    """The Class3D job type."""
    return ml_job_spec(
        directory="Class3D",
        type_label="relion.class3d",
        title="3D classification",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        hidden_name=".gui_class3d",
        summary="3D classification from a reference: class maps, orientations, offsets and classes of every particle.",
    )


__all__ = ["job_spec", "run", "settings_from"]
