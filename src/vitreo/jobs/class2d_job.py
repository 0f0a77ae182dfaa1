"""The Class2D job type (RELION's "2D classification", relion_refine with --K and 2D references).

Reference-free 2D classification of the particles of ``fn_img`` (:func:`vitreo.ml.class2d.run_class2d`)
into ``nr_classes`` classes over ``nr_iter_em`` EM iterations. Each iteration writes RELION's
``run_itNNN_classes.mrcs``, ``_model.star``, ``_data.star``, ``_optimiser.star`` (first line: the
command) and ``_sampling.star``; the output nodes are the last iteration's _data.star and
_optimiser.star, as RELION 5's. The GUI's psi and offset steps are the final (oversampled) ones:
the coarse search uses twice them, with one order of adaptive oversampling. Continue from any
iteration's _optimiser.star (``fn_cont``) with more iterations or a finer sampling.
Not available: the VDAM gradient algorithm (do_grad) and helical classification (do_helix).
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
from vitreo.jobs.spec import JobSpec, OutputNode
from vitreo.ml.class2d import Class2DSettings, run_class2d

PREFIX = "run"
DATA_LABEL = "ParticleGroupMetadata.star.relion.class2d"
OPTIMISER_LABEL = "OptimiserData.star.relion.class2d"
HELIX = "Helix"


def _options() -> tuple[JobOption, ...]:
    num, yes_no = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        *input_options(),
        *ctf_options(),
        JobOption("nr_classes", "Number of classes:", "1", num, OPTIMISATION,
                  "The number of classes (K) for a multi-reference refinement. Use about one class per 100-200 "
                  "particles, and not many more than 200 classes.", minimum=1, maximum=500),
        tau_fudge_option("2"),
        JobOption("do_em", "Use EM algorithm?", "Yes", yes_no, OPTIMISATION,
                  "If set to Yes, the standard expectation-maximisation algorithm is used (vitreo's only one)."),
        iterations_option("nr_iter_em", "25"),
        JobOption("do_grad", "Use VDAM algorithm?", "No", yes_no, OPTIMISATION,
                  "RELION 4's gradient-driven (VDAM) algorithm. Not available in vitreo: use EM."),
        JobOption("nr_iter_grad", "Number of VDAM mini-batches:", "200", num, OPTIMISATION,
                  "Mini-batches of the VDAM algorithm (not available in vitreo).", minimum=50, maximum=500),
        *mask_options(zero_mask=True, default_diameter="200"),
        highres_option(),
        JobOption("do_center", "Center class averages?", "Yes", yes_no, OPTIMISATION,
                  "If set to Yes, every class average is re-centred on its centre of mass after each iteration, "
                  "so that classes stay centred (useful for auto-picking references).", on_continue=True),
        alignment_option(),
        JobOption("psi_sampling", "In-plane angular sampling:", "6", num, SAMPLING,
                  "The in-plane angular step (degrees) after adaptive oversampling; the coarse search uses twice "
                  "it.", minimum=0.5, maximum=20, on_continue=True),
        *offset_options("5", "1"),
        JobOption("allow_coarser", "Allow coarser sampling?", "No", yes_no, SAMPLING,
                  "Kept for RELION compatibility (vitreo's sampling is as given).", on_continue=True),
        unavailable_option("do_helix", "Classify 2D helical segments?", "No", yes_no, HELIX),
        unavailable_option("helical_tube_outer_diameter", "Tube diameter (A):", "200", num, HELIX),
        unavailable_option("do_bimodal_psi", "Do bimodal angular searches?", "Yes", yes_no, HELIX),
        unavailable_option("range_psi", "Angular search range - psi (deg):", "6", num, HELIX),
        unavailable_option("do_restrict_xoff", "Restrict helical offsets to rise:", "Yes", yes_no, HELIX),
        unavailable_option("helical_rise", "Helical rise (A):", "4.75", num, HELIX),
        *compute_options(pool_default="3"),
        *ml_running_options(),
    )


def _validate(params: Params) -> None:
    require_inputs(params, "classify")
    if params.flag("do_grad") or not params.flag("do_em"):
        raise ValueError("only the EM algorithm is available in vitreo: set do_em Yes and do_grad No")
    if params.flag("do_helix"):
        raise ValueError("helical 2D classification is not available in vitreo (do_helix)")
    if not params.flag("dont_skip_align"):
        raise ValueError("2D classification without alignment is not available in vitreo (dont_skip_align)")


def _output_nodes(params: Params) -> list[OutputNode]:
    return _nodes(params.integer("nr_iter_em"))


def _nodes(iteration: int) -> list[OutputNode]:
    stem = f"{PREFIX}_it{iteration:03d}"
    return [OutputNode(f"{stem}_data.star", DATA_LABEL), OutputNode(f"{stem}_optimiser.star", OPTIMISER_LABEL)]


def settings_from(params: Params) -> Class2DSettings:
    """The engine settings of a Class2D job's parameters (coarse steps are twice the GUI's)."""
    compute = compute_settings(params)
    return Class2DSettings(
        nr_classes=class_count(params),
        nr_iter=params.integer("nr_iter_em"),
        tau_fudge=params.number("tau_fudge"),
        **common_settings(params),
        zero_mask=params.flag("do_zero_mask"),
        highres_limit=params.number("highres_limit"),
        psi_step=2 * params.number("psi_sampling"),
        oversampling=1,
        center_classes=params.flag("do_center"),
        threads=compute.threads,
        device=compute.device,
    )


def run(job_dir: Path, params: Params, ctx: JobContext) -> list[OutputNode]:
    """Classify, writing run_itNNN_* for every iteration; returns the last iteration's nodes."""
    settings = settings_from(params)
    prefix = job_dir / PREFIX
    with engine_run(job_dir, params, ctx, "Class2D", use_ctf=settings.ctf) as engine:
        ctx.log.info(" Classifying into %d classes, %d iterations%s", settings.nr_classes, settings.nr_iter,
                     f", continuing from {engine.fn_cont}" if engine.fn_cont else "")
        result = run_class2d(
            params.text("fn_img"), prefix, settings, engine.progress,
            continue_from=engine.fn_cont,
            command=settings.command(engine.source, prefix),
            log=engine.log,
            loader=engine.load,
        )
    if not result.iterations:
        raise InputError(engine.fn_cont, f"already at iteration {settings.nr_iter} or beyond: ask for more iterations (nr_iter_em)")
    last = result.iterations[-1]
    ctx.log.info(" Done: %d iterations, resolution %.1f A; written %s", len(result.iterations), last.resolution,
                 result.files["model"])
    return _nodes(last.iteration)


def job_spec() -> JobSpec:
    """The Class2D job type."""
    return ml_job_spec(
        directory="Class2D",
        type_label="relion.class2d",
        title="2D classification",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        hidden_name=".gui_class2d",
        summary="Reference-free 2D classification: class averages, in-plane angles and offsets of every particle.",
    )


__all__ = ["job_spec", "run", "settings_from"]
