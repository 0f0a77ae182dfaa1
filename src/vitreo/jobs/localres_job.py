"""The LocalRes job type (RELION's ``relion.localres``) with RELION's own method (``relion_postprocess --locres``).

From one unfiltered half-map (the other found by swapping half1/half2 in its name): a soft
sphere moved over the map every ``locres_sampling`` Å, a phase-randomisation-corrected local FSC
at each position (:mod:`vitreo.post.local_resolution`). Outputs ``relion_locres.mrc`` (local
resolution in Å) and ``relion_locres_filtered.mrc`` (the average map divided by the MTF,
sharpened with ``adhoc_bfac`` and locally filtered); with a mask, ``histogram.pdf`` of the
local resolution inside it. ResMap is an external program: vitreo refuses it.
"""

from __future__ import annotations

import os
from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.io.mrc import write_mrc
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.halfmap_options import half_map_option, read_input_half_maps, require_half_map
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode

LOCRES, FILTERED, HISTOGRAM = "relion_locres.mrc", "relion_locres_filtered.mrc", "histogram.pdf"
LOCRES_LABEL = "Image3D.mrc.relion.localresmap"
FILTERED_LABEL = "DensityMap.mrc.relion.localresfiltered"
LOG_LABEL = "LogFile.pdf.relion.localres"
RESMAP_REFUSED = ("ResMap is an external program and vitreo does not call external binaries: set 'Use ResMap?' to "
                  "No and 'Use Relion?' to Yes (RELION's own local-resolution method)")


def _options() -> tuple[JobOption, ...]:
    num, yes_no = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        half_map_option(),
        JobOption("angpix", "Calibrated pixel size (A)", "-1", num, "I/O",
                  "Provide the final, calibrated pixel size in Angstroms. If negative, the half-map's header is used.",
                  minimum=-1, maximum=5),
        JobOption("do_resmap_locres", "Use ResMap?", "No", yes_no, "ResMap",
                  "ResMap is an external program, which vitreo does not run: leave this at No and use RELION's own "
                  "method below."),
        JobOption("fn_resmap", "ResMap executable:", lambda: os.environ.get("RELION_RESMAP_EXECUTABLE", ""),
                  OptionKind.FILE, "ResMap", "Location of the ResMap executable (not used by vitreo).",
                  pattern="ResMap*"),
        JobOption("fn_mask", "User-provided solvent mask:", "", OptionKind.INPUT_NODE, "ResMap",
                  "Provide a mask with values between 0 and 1 around all domains of the complex. RELION's method does "
                  "NOT use this mask for the calculation, but makes a histogram of local resolution within it.",
                  node_type=node_types.MASK, pattern="Image Files (*.{spi,vol,msk,mrc})"),
        JobOption("pval", "P-value:", "0.05", num, "ResMap", "ResMap's P-value (not used by vitreo).",
                  minimum=0, maximum=1),
        JobOption("minres", "Highest resolution (A): ", "0", num, "ResMap", "ResMap's minRes (not used by vitreo).",
                  minimum=0, maximum=10),
        JobOption("maxres", "Lowest resolution (A): ", "0", num, "ResMap", "ResMap's maxRes (not used by vitreo).",
                  minimum=0, maximum=10),
        JobOption("stepres", "Resolution step size (A)", "1", num, "ResMap", "ResMap's stepSize (not used by vitreo).",
                  minimum=0.1, maximum=3),
        JobOption("do_relion_locres", "Use Relion?", "Yes", yes_no, "Relion",
                  "If set to Yes, RELION's own method is used: a series of post-processing operations with a small "
                  "soft, spherical mask that is moved over the entire map, while using phase-randomisation to "
                  "estimate the convolution effects of that mask. The output relion_locres.mrc map can be used to "
                  "color the surface of a map in UCSF Chimera according to its local resolution. The output "
                  "relion_locres_filtered.mrc is a composite map that is locally filtered to the estimated "
                  "resolution."),
        JobOption("locres_sampling", "Sampling rate (A):", "25", num, "Relion",
                  "The local-resolution map will be calculated every so many Angstroms, by placing soft spherical "
                  "masks (radius half this value, soft edge this value) on a cubic grid with this spacing. Very fine "
                  "samplings (e.g. < 15A?) may take a long time to compute and give spurious estimates!",
                  minimum=5, maximum=50),
        JobOption("adhoc_bfac", "User-provided B-factor:", "-100", num, "Relion",
                  "Probably, the overall B-factor as was estimated in the postprocess is a useful value for here. Use "
                  "negative values for sharpening. Be careful: if you over-sharpen your map, you may end up "
                  "interpreting noise for signal!", minimum=-500, maximum=0),
        JobOption("fn_mtf", "MTF of the detector (STAR file)", "", OptionKind.FILE, "Relion",
                  "The MTF of the detector is used to complement the user-provided B-factor in the sharpening (a "
                  "RELION MTF STAR file or the name of a curve shipped with vitreo). If you don't have this curve, "
                  "you can leave this field empty.", pattern="STAR Files (*.star)"),
        *running_options(has_mpi=True, has_threads=True),
    )


def _validate(params: Params) -> None:
    if params.flag("do_resmap_locres"):
        raise ValueError(RESMAP_REFUSED)
    if not params.flag("do_relion_locres"):
        raise ValueError("choose either ResMap or Relion for local resolution estimation")
    require_half_map(params)


def _label(params: Params) -> str:
    return "relion.localres.resmap" if params.flag("do_resmap_locres") else "relion.localres.own"


def _output_nodes(params: Params) -> list[OutputNode]:
    nodes = [OutputNode(FILTERED, FILTERED_LABEL), OutputNode(LOCRES, LOCRES_LABEL)]
    if params.text("fn_mask"):
        nodes.insert(0, OutputNode(HISTOGRAM, LOG_LABEL))
    return nodes


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Estimate the local resolution and write relion_locres.mrc, relion_locres_filtered.mrc (and histogram.pdf)."""
    from vitreo.plots.postprocess_plots import write_resolution_histogram
    from vitreo.post.inputs import read_mask, read_mtf_curve
    from vitreo.post.local_resolution import LocalResolutionSettings, local_positions, local_resolution

    maps = read_input_half_maps(params, ctx)
    mask = read_mask(params.text("fn_mask"), tuple(maps.half1.shape)) if params.text("fn_mask") else None
    bfactor = params.number("adhoc_bfac")
    if bfactor > 0:
        ctx.log.warning(" WARNING: using a positive B-factor. This will effectively dampen your map. "
                        "Use negative value to sharpen it!")
    settings = LocalResolutionSettings(sampling=params.number("locres_sampling"), bfactor=bfactor,
                                       mtf=read_mtf_curve(params.text("fn_mtf")), mtf_pixel_size=maps.pixel_size)
    count = len(local_positions(maps.half1.shape[-1], maps.pixel_size, settings)[0])
    ctx.log.info(" Calculating local resolution in %d sampling points ...", count)
    ctx.progress.start("local resolution", 2 * count)
    try:
        result = local_resolution(maps.half1, maps.half2, maps.pixel_size, settings, ctx.progress.advance)
    except ValueError as err:
        raise InputError(maps.name1, str(err)) from None
    write_mrc(job_dir / LOCRES, result.resolution_map.numpy(), maps.pixel_size)
    write_mrc(job_dir / FILTERED, result.filtered.numpy(), maps.pixel_size)
    values = result.resolutions.numpy()
    ctx.log.info(" Local resolution at the %d points: median %.2f Å, best %.2f Å, worst %.2f Å", len(values),
                 float(sorted(values)[len(values) // 2]), float(values.min()), float(values.max()))
    if mask is not None:
        inside = result.resolution_map[(mask >= 0.5) & (result.resolution_map > 0)].numpy()
        write_resolution_histogram(job_dir / HISTOGRAM, inside, f"Local resolution inside {params.text('fn_mask')}")
        ctx.log.info(" Written %s", job_dir / HISTOGRAM)
    ctx.log.info(" Written %s and %s", job_dir / LOCRES, job_dir / FILTERED)


def job_spec() -> JobSpec:
    """The LocalRes job type."""
    return JobSpec(
        directory="LocalRes",
        type_label="relion.localres",
        title="Local resolution",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        label_for=_label,
        validate=_validate,
        continue_rule=ContinueRule.RESTART,
        hidden_name=".gui_localres",
        summary="Local resolution by RELION's own method (a soft sphere moved over the map) and a locally filtered map.",
    )


__all__ = ["job_spec", "run"]
