"""The Refine3D job type (RELION's "3D auto-refine", relion_refine --auto_refine --split_random_halves).

Gold-standard refinement of ``fn_img`` against ``fn_ref`` until convergence
(:func:`vitreo.ml.refine3d.run_refine3d`): half-sets refined independently, the FSC between them
every iteration, RELION's automatic increase of the angular and translational sampling and
switch to local searches from ``auto_local_sampling``, every decision logged as
" Auto-refine: ..." (``grep Auto run.out``), then a last iteration that joins the halves.
Outputs: run_itNNN_half1/2_class001.mrc and _model.star per iteration, run_half1/2_class001_unfil.mrc,
run_class001.mrc, run_model.star (rlnGoldStandardFsc), run_data.star and
run_class001_angdist.png (the angular distribution). Continue from an _optimiser.star (fn_cont).
Not available: helical refinement, relaxed symmetry.
"""

from __future__ import annotations

from pathlib import Path

from vitreo.jobs.context import JobContext
from vitreo.jobs.ml_options import (
    COMPUTE,
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
    require_inputs,
)
from vitreo.jobs.options import JobOption, OptionKind, Params, unavailable_option
from vitreo.jobs.options_3d import healpix_order, reference_options, reference_settings, sampling_option
from vitreo.jobs.spec import JobSpec, OutputNode
from vitreo.ml.refine3d import Refine3DSettings, run_refine3d
from vitreo.plots.angular_distribution import plot_angular_distribution

PREFIX = "run"
DATA_LABEL = "ParticleGroupMetadata.star.relion.refine3d"
MAP_LABEL = "DensityMap.mrc.relion.refine3d"
HALFMAP_LABEL = "DensityMap.mrc.relion.halfmap.refine3d"
OPTIMISER_LABEL = "OptimiserData.star.relion.refine3d"
ANGDIST = f"{PREFIX}_class001_angdist.png"


def _options() -> tuple[JobOption, ...]:
    yes_no = OptionKind.BOOLEAN
    return (
        *input_options(),
        *reference_options("40"),
        *ctf_options(),
        *mask_options(zero_mask=True, default_diameter="200"),
        JobOption("do_solvent_fsc", "Use solvent-flattened FSCs?", "No", yes_no, "Optimisation",
                  "If Yes (with a reference mask), the FSC between the half-maps is that of the masked maps, corrected "
                  "for the mask by phase randomisation, as in post-processing.", on_continue=True),
        sampling_option("7.5 degrees"),
        *offset_options("5", "1"),
        sampling_option("1.8 degrees", "auto_local_sampling", "Local searches from auto-sampling:"),
        unavailable_option("relax_sym", "Relax symmetry:", "", OptionKind.TEXT, SAMPLING),
        JobOption("auto_faster", "Use finer angular sampling faster?", "No", yes_no, SAMPLING,
                  "If Yes, auto-refinement goes to finer angular samplings faster (RELION's --auto_ignore_angles "
                  "--auto_resol_angles): the sampling goes finer, and the refinement converges, regardless of changes "
                  "still happening in the angles and offsets, and the sampling also goes finer while the resolution "
                  "still improves once the current resolution requires that sampling at the edge of the particle. "
                  "Faster; as RELION warns, not tested on many cases for a loss of quality upon convergence.",
                  on_continue=True),
        JobOption("max_iter", "Maximum number of iterations:", "50", OptionKind.NUMBER, COMPUTE,
                  "(vitreo) A safety stop: after this many iterations the halves are joined even without convergence.",
                  minimum=2, maximum=200, on_continue=True),
        *compute_options(pad1=True, gridding=True, pool_default="3"),
        *ml_running_options(),
    )


def _validate(params: Params) -> None:
    require_inputs(params, "refine", reference=True)
    if params.text("relax_sym"):
        raise ValueError("relaxed symmetry is not available in vitreo (relax_sym)")
    if params.flag("do_solvent_fsc") and not params.text("fn_mask"):
        raise ValueError("solvent-flattened FSCs need a reference mask (fn_mask)")
    healpix_order(params)
    healpix_order(params, "auto_local_sampling")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [
        OutputNode(f"{PREFIX}_data.star", DATA_LABEL),
        OutputNode(f"{PREFIX}_class001.mrc", MAP_LABEL),
        OutputNode(f"{PREFIX}_half1_class001_unfil.mrc", HALFMAP_LABEL),
    ]


def settings_from(params: Params) -> Refine3DSettings:
    """The engine settings of a Refine3D job's parameters (coarse offset step: twice the GUI's)."""
    compute = compute_settings(params)
    return Refine3DSettings(
        **common_settings(params),
        **reference_settings(params),
        local_healpix_order=healpix_order(params, "auto_local_sampling"),
        auto_faster=params.flag("auto_faster"),
        zero_mask=params.flag("do_zero_mask"),
        solvent_fsc=params.flag("do_solvent_fsc"),
        max_iter=params.integer("max_iter") if "max_iter" in params and params.text("max_iter") else 50,
        threads=compute.threads,
        device=compute.device,
    )


def run(job_dir: Path, params: Params, ctx: JobContext) -> list[OutputNode]:
    """Refine to convergence and write the final maps, model, data and angular distribution."""
    settings = settings_from(params)
    prefix = job_dir / PREFIX
    with engine_run(job_dir, params, ctx, "Refine3D", use_ctf=settings.ctf, log_format="%s") as engine:
        if engine.fn_cont:  # the symmetry is the continued run's (the engine says so when it differs)
            ctx.log.info(" Gold-standard refinement, continuing from %s", engine.fn_cont)
        else:
            ctx.log.info(" Gold-standard refinement in %s", settings.symmetry)
        result = run_refine3d(
            params.text("fn_img"), params.text("fn_ref") or None, prefix, settings, engine.progress,
            mask=params.text("fn_mask") or None,
            continue_from=engine.fn_cont,
            command=settings.command(engine.source, params.text("fn_ref") or None, prefix),
            log=engine.log,
            loader=engine.load,
        )
    plot_angular_distribution(job_dir / ANGDIST, result.state.angles.numpy(), result.symmetry)
    ctx.log.info(" Done: gold-standard resolution %.2f A after %d iterations; written %s", result.resolution,
                 len(result.iterations) + 1, result.files["map"])
    return [
        *_output_nodes(params),
        OutputNode(f"{PREFIX}_half2_class001_unfil.mrc", HALFMAP_LABEL),
    ][:3]


def job_spec() -> JobSpec:
    """The Refine3D job type."""
    return ml_job_spec(
        directory="Refine3D",
        type_label="relion.refine3d",
        title="3D auto-refine",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        hidden_name=".gui_auto3d",
        summary="Gold-standard 3D auto-refinement: a map, its half-maps and FSC, and every particle's orientation.",
    )


__all__ = ["job_spec", "run", "settings_from"]
