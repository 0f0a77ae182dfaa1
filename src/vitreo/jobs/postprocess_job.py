"""The PostProcess job type (RELION's ``relion.postprocess``, ``relion_postprocess``).

From one unfiltered half-map (``fn_in``; the other is found by swapping half1/half2 in its
name), a solvent mask and the calibrated pixel size: the masked, phase-randomisation-corrected
gold-standard FSC and the resolution at 0.143; the averaged map divided by the detector MTF,
FSC-weighted, sharpened with a fitted (``do_auto_bfac``) or given (``do_adhoc_bfac``) B-factor
and low-pass filtered (:mod:`vitreo.post.postprocess`). Outputs ``postprocess.mrc``,
``postprocess_masked.mrc``, ``postprocess.star`` (data_general, data_fsc, data_guinier),
``postprocess_fsc.xml`` and ``logfile.pdf``.
"""

from __future__ import annotations

from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.io.mrc import write_mrc
from vitreo.io.star import write_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.halfmap_options import half_map_option, read_input_half_maps, require_half_map
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.jobs.star_tables import STAR_VERSION

MAP, MASKED, STAR, LOGFILE, XML = "postprocess.mrc", "postprocess_masked.mrc", "postprocess.star", "logfile.pdf", \
    "postprocess_fsc.xml"
MAP_LABEL = "DensityMap.mrc.relion.postprocess"
MASKED_LABEL = "DensityMap.mrc.relion.postprocess.masked"
LOG_LABEL = "LogFile.pdf.relion.postprocess"


def _options() -> tuple[JobOption, ...]:
    num, yes_no = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        half_map_option(),
        JobOption("fn_mask", "Solvent mask:", "", OptionKind.INPUT_NODE, "I/O",
                  "Provide a soft mask where the protein is white (1) and the solvent is black (0). Often, the softer "
                  "the mask the higher resolution estimates you will get. A soft edge of 5-10 pixels is often a good "
                  "edge width.", node_type=node_types.MASK, pattern="Image Files (*.{spi,vol,msk,mrc})"),
        JobOption("angpix", "Calibrated pixel size (A)", "-1", num, "I/O",
                  "Provide the final, calibrated pixel size in Angstroms. This value may be different from the "
                  "pixel-size used thus far, e.g. when you have recalibrated the pixel size using the fit to a PDB "
                  "model. The X-axis of the output FSC plot will use this calibrated value. If negative, the "
                  "half-map's header is used.", minimum=-1, maximum=5),
        JobOption("do_auto_bfac", "Estimate B-factor automatically?", "Yes", yes_no, "Sharpen",
                  "If set to Yes, then the program will use the automated procedure described by Rosenthal and "
                  "Henderson (2003, JMB) to estimate an overall B-factor for your map, and sharpen it accordingly. "
                  "Note that your map must extend well beyond the lowest resolution included in the procedure below, "
                  "which should not be set to resolutions much lower than 10 Angstroms."),
        JobOption("autob_lowres", "Lowest resolution for auto-B fit (A):", "10", num, "Sharpen",
                  "This is the lowest frequency (in Angstroms) that will be included in the linear fit of the Guinier "
                  "plot as described in Rosenthal and Henderson (2003, JMB). Dont use values much lower or higher "
                  "than 10 Angstroms. If your map does not extend beyond 10 Angstroms, then instead of the automated "
                  "procedure use your own B-factor.", minimum=8, maximum=15),
        JobOption("do_adhoc_bfac", "Use your own B-factor?", "No", yes_no, "Sharpen",
                  "Instead of using the automated B-factor estimation, provide your own value. Use negative values "
                  "for sharpening the map. This option is useful if your map does not extend beyond the 10A needed "
                  "for the automated procedure, or when the automated procedure does not give a suitable value."),
        JobOption("adhoc_bfac", "User-provided B-factor:", "-1000", num, "Sharpen",
                  "Use negative values for sharpening. Be careful: if you over-sharpen your map, you may end up "
                  "interpreting noise for signal!", minimum=-2000, maximum=0),
        JobOption("fn_mtf", "MTF of the detector (STAR file)", "", OptionKind.FILE, "Sharpen",
                  "If you know the MTF of your detector, provide it here (a RELION MTF STAR file, or the name of a "
                  "curve shipped with vitreo such as k2_200kV). If you leave this entry empty, the MTF of your "
                  "detector is included in the overall estimated B-factor.", pattern="STAR Files (*.star)"),
        JobOption("mtf_angpix", "Original detector pixel size:", "1.0", num, "Sharpen",
                  "This is the original pixel size (in Angstroms) in the raw (non-super-resolution!) micrographs.",
                  minimum=0.3, maximum=2.0),
        JobOption("do_skip_fsc_weighting", "Skip FSC-weighting?", "No", yes_no, "Filter",
                  "If set to No (the default), then the output map will be low-pass filtered according to the "
                  "mask-corrected, gold-standard FSC-curve. Sometimes, it is also useful to provide an ad-hoc "
                  "low-pass filter (option below), as due to local resolution variations some parts of the map may "
                  "be better and other parts may be worse than the overall resolution as measured by the FSC. In "
                  "such cases, set this option to Yes and provide an ad-hoc filter as described below."),
        JobOption("low_pass", "Ad-hoc low-pass filter (A):", "5", num, "Filter",
                  "This option allows one to low-pass filter the map at a user-provided frequency (in Angstroms). "
                  "When using a resolution that is higher than the gold-standard FSC-reported resolution, take care "
                  "not to interpret noise in the map for signal...", minimum=1, maximum=40),
        *running_options(has_mpi=False, has_threads=True),
    )


def _validate(params: Params) -> None:
    require_half_map(params)
    if not params.text("fn_mask"):
        raise ValueError("give a solvent mask (--fn_mask)")
    if params.flag("do_auto_bfac") and params.flag("do_adhoc_bfac"):
        raise ValueError("estimate the B-factor automatically or use your own, not both")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [OutputNode(MAP, MAP_LABEL), OutputNode(MASKED, MASKED_LABEL), OutputNode(LOGFILE, LOG_LABEL),
            OutputNode(STAR, node_types.POSTPROCESS)]


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Post-process the half-maps and write the maps, postprocess.star and logfile.pdf."""
    from vitreo.post.inputs import read_mask, read_mtf_curve
    from vitreo.post.postprocess import PostProcessSettings, postprocess
    from vitreo.post.postprocess_files import fsc_curves, postprocess_blocks, write_fsc_xml
    from vitreo.plots.postprocess_plots import write_postprocess_logfile

    maps = read_input_half_maps(params, ctx)
    mask_name = params.text("fn_mask")
    mask = read_mask(mask_name, tuple(maps.half1.shape))
    ctx.log.info("== Reading input half-reconstructions: %s and %s (pixel size %.4g Å)", maps.name1, maps.name2,
                 maps.pixel_size)
    settings = PostProcessSettings(
        auto_bfactor=params.flag("do_auto_bfac"), autob_lowres=params.number("autob_lowres"),
        adhoc_bfactor=params.number("adhoc_bfac") if params.flag("do_adhoc_bfac") else 0.0,
        mtf=read_mtf_curve(params.text("fn_mtf")), mtf_pixel_size=params.number("mtf_angpix"),
        fsc_weighting=not params.flag("do_skip_fsc_weighting"),
        low_pass=params.number("low_pass") if params.flag("do_skip_fsc_weighting") else 0.0)
    ctx.progress.start("post-processing", 1)
    try:
        result = postprocess(maps.half1, maps.half2, mask, maps.pixel_size, settings)
    except ValueError as err:  # e.g. no shells to fit a B-factor
        raise InputError(maps.name1, str(err)) from None
    ctx.progress.advance()
    ctx.log.info("  + randomize phases beyond: %.2f Angstroms", result.randomise_from)
    if result.fit is not None:
        ctx.log.info("  + Guinier fit between %.2f and %.2f Å: slope %.3f, intercept %.3f, correlation %.4f",
                     settings.autob_lowres, result.resolution, result.fit.slope, result.fit.intercept,
                     result.fit.correlation)
    ctx.log.info("  + apply b-factor of: %.2f", result.bfactor)
    ctx.log.info("  + filter frequency: %.2f", result.filter_resolution)
    for warning in result.warnings:
        ctx.log.warning(" WARNING: %s", warning)
    write_mrc(job_dir / MAP, result.sharpened.numpy(), maps.pixel_size)
    write_mrc(job_dir / MASKED, result.masked.numpy(), maps.pixel_size)
    write_star(job_dir / STAR, postprocess_blocks(result, maps.name1, maps.name2, mask_name), version=STAR_VERSION)
    write_fsc_xml(job_dir / XML, result)
    fit_range = (settings.autob_lowres, result.resolution) if result.fit is not None else None
    write_postprocess_logfile(job_dir / LOGFILE, fsc_curves(result), result.guinier, maps.pixel_size, result.box,
                              result.resolution, result.bfactor, fit_range)
    ctx.log.info("  + FINAL RESOLUTION: %.4f", result.resolution)


def job_spec() -> JobSpec:
    """The PostProcess job type."""
    return JobSpec(
        directory="PostProcess",
        type_label="relion.postprocess",
        title="Post-processing",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        continue_rule=ContinueRule.RESTART,
        hidden_name=".gui_post",
        summary="Mask-corrected gold-standard FSC, resolution, MTF correction and B-factor sharpening.",
    )


__all__ = ["job_spec", "run"]
