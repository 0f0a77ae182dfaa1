"""The MaskCreate job type (RELION's ``relion.maskcreate``, ``relion_mask_create``): a solvent mask from a map.

The input map is low-pass filtered (``lowpass_filter`` Å; the pixel size ``angpix`` is used
only for this filter and the output header, -1 takes the map's header), binarised at
``inimask_threshold``, extended by ``extend_inimask`` pixels and given a raised-cosine soft edge
of ``width_mask_edge`` pixels (:mod:`vitreo.post.mask_create`). For helices the mask is limited
to the central ``helical_z_percentage`` of the box along z. Output: ``mask.mrc``.
"""

from __future__ import annotations

from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.io.mrc import write_mrc
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode

OUTPUT = "mask.mrc"
MASK_LABEL = "Mask3D.mrc.relion"


def _options() -> tuple[JobOption, ...]:
    num, yes_no = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        JobOption("fn_in", "Input 3D map:", "", OptionKind.INPUT_NODE, "I/O",
                  "Provide an input MRC map from which to start binarizing the map.",
                  node_type=node_types.MAP, pattern="MRC map files (*.mrc)"),
        JobOption("lowpass_filter", "Lowpass filter map (A)", "15", num, "Mask",
                  "Lowpass filter that will be applied to the input map, prior to binarization. To calculate solvent "
                  "masks, a lowpass filter of 15-20A may work well.", minimum=10, maximum=100),
        JobOption("angpix", "Pixel size (A)", "-1", num, "Mask",
                  "Provide the pixel size of the input map in Angstroms to calculate the low-pass filter. This value "
                  "is also used in the output image header. If negative, the map's header is used.",
                  minimum=-1, maximum=5),
        JobOption("inimask_threshold", "Initial binarisation threshold:", "0.02", num, "Mask",
                  "This threshold is used to make an initial binary mask from the average of the two unfiltered "
                  "half-reconstructions. If you don't know what value to use, display one of the unfiltered half-maps "
                  "in a 3D surface rendering viewer and find the lowest threshold that gives no noise peaks outside "
                  "the reconstruction.", minimum=0, maximum=0.5),
        JobOption("extend_inimask", "Extend binary map this many pixels:", "3", num, "Mask",
                  "The initial binary mask is extended this number of pixels in all directions.", minimum=0, maximum=20),
        JobOption("width_mask_edge", "Add a soft-edge of this many pixels:", "3", num, "Mask",
                  "The extended binary mask is further extended with a raised-cosine soft edge of the specified width.",
                  minimum=0, maximum=20),
        JobOption("do_helix", "Mask a 3D helix?", "No", yes_no, "Helix",
                  "Generate a mask for 3D helix which spans across Z axis of the box."),
        JobOption("helical_z_percentage", "Central Z length (%):", "30", num, "Helix",
                  "Reconstructed helix suffers from inaccuracies of orientation searches. The central part of the box "
                  "contains more reliable information compared to the top and bottom parts along Z axis. Set this "
                  "value (%) to the central part length along Z axis divided by the box size. Values around 30% are "
                  "commonly used.", minimum=5, maximum=80),
        *running_options(has_mpi=False, has_threads=True),
    )


def _validate(params: Params) -> None:
    if not params.text("fn_in"):
        raise ValueError("give the map to make a mask from (--fn_in)")
    if params.number("extend_inimask") < 0 or params.number("width_mask_edge") < 0:
        raise ValueError("extend_inimask and width_mask_edge must not be negative")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [OutputNode(OUTPUT, MASK_LABEL)]


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Write mask.mrc."""
    from vitreo.post.inputs import read_map
    from vitreo.post.mask_create import create_mask

    path = params.text("fn_in")
    ctx.log.info(" Using %d CPU thread(s)", ctx.backend.threads)
    volume, pixel_size = read_map(path, params.number("angpix"))
    threshold = params.number("inimask_threshold")
    helix = params.number("helical_z_percentage") / 100 if params.flag("do_helix") else None
    ctx.progress.start("creating mask", 1)
    mask = create_mask(volume, pixel_size, params.number("lowpass_filter"), threshold,
                       params.number("extend_inimask"), params.number("width_mask_edge"), helix)
    if float(mask.max()) == 0:
        raise InputError(path, f"no voxel of the low-pass filtered map reaches the initial binarisation threshold "
                               f"{threshold:g} (the map's maximum is {float(volume.max()):.4g})")
    write_mrc(job_dir / OUTPUT, mask.numpy(), pixel_size)
    ctx.progress.advance()
    ctx.log.info(" Written %s: %.1f%% of the box inside the mask (value ≥ 0.5), pixel size %.4g Å",
                 job_dir / OUTPUT, 100 * float((mask >= 0.5).float().mean()), pixel_size)


def job_spec() -> JobSpec:
    """The MaskCreate job type."""
    return JobSpec(
        directory="MaskCreate",
        type_label="relion.maskcreate",
        title="Mask creation",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        continue_rule=ContinueRule.RESTART,
        hidden_name=".gui_maskcreate",
        summary="Make a soft solvent mask from a map: low-pass, threshold, extend and add a soft edge.",
    )


__all__ = ["job_spec", "run"]
