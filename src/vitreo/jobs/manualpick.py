"""The ManualPick job type (RELION ``relion.manualpick``), headless: coordinates are imported and reviewed.

The interactive picker comes with the GUI. This job takes the micrographs (``fn_in``) and a set
of coordinates to review (``fn_coords``, vitreo's addition: Import's ``coords_suffix`` node or
another picking job's ``autopick.star``/``manualpick.star``), checks every coordinate against its
micrograph (outside ones are dropped and reported), optionally keeps only picks with
rlnAutopickFigureOfMerit ≥ ``minimum_pick_fom``, and writes what RELION's manual picker saves:
``Movies/<name>_manualpick.star`` per micrograph, the index ``manualpick.star`` and
``micrographs_selected.star`` (all input micrographs). An empty coordinate file is reported and
its micrograph left without picks. Continuing keeps the picks of micrographs done before (they
may have been edited) and adds only new micrographs.
"""

from __future__ import annotations

from pathlib import Path

from vitreo.io.coords import coordinate_file_for, read_coordinates, write_coordinates
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_header_info
from vitreo.io.star import read_star, write_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.jobs.star_tables import STAR_VERSION
from vitreo.picking.coordinate_review import manualpick_table, review_coordinates
from vitreo.picking.coordinate_sets import coordinate_files, write_coordinate_index
from vitreo.picking.micrograph_table import read_micrograph_table

SUFFIX = "_manualpick.star"
INDEX = "manualpick.star"
SELECTED = "micrographs_selected.star"
COORDS_LABEL = "MicrographCoordsGroup.star.relion.manualpick"
MICS_LABEL = node_types.MICROGRAPHS
DISPLAY, COLORS = "Display", "Colors"


def _options() -> tuple[JobOption, ...]:
    num, yes_no = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        JobOption("fn_in", "Input micrographs:", "", OptionKind.INPUT_NODE, "I/O",
                  "Input STAR file (with or without CTF information) with the micrographs to pick on.",
                  node_type=node_types.MICROGRAPHS, pattern="Input micrographs (*.{star})"),
        JobOption("fn_coords", "Coordinates to review:", "", OptionKind.INPUT_NODE, "I/O",
                  "(vitreo) Coordinates to start from: imported coordinates (Import's coords_suffix node) or the "
                  "picks of an earlier picking job (autopick.star, manualpick.star). Leave empty to start without.",
                  node_type=node_types.COORDINATES, pattern="Coordinates (*.star)"),
        JobOption("do_fom_threshold", "Use autopick FOM threshold?", "No", yes_no, "I/O",
                  "If set to Yes, only particles with rlnAutopickFigureOfMerit values at least the threshold below "
                  "are kept."),
        JobOption("minimum_pick_fom", "Minimum autopick FOM: ", "0", num, "I/O",
                  "The minimum value for the rlnAutopickFigureOfMerit for particles to be kept.", minimum=-5, maximum=10),
        JobOption("diameter", "Particle diameter (A):", "100", num, DISPLAY,
                  "The diameter of the circle used around picked particles (in Angstroms). Only used for display.",
                  minimum=0, maximum=500),
        JobOption("micscale", "Scale for micrographs:", "0.2", num, DISPLAY,
                  "The micrographs will be displayed at this relative scale.", minimum=0.1, maximum=1),
        JobOption("sigma_contrast", "Sigma contrast:", "3", num, DISPLAY,
                  "Display black and white at the average minus and plus this many standard deviations; 0 for the "
                  "minimum and maximum.", minimum=0, maximum=10),
        JobOption("white_val", "White value:", "0", num, DISPLAY,
                  "Use non-zero values to set the value of the whitest pixel in the micrograph.", minimum=0, maximum=512),
        JobOption("black_val", "Black value:", "0", num, DISPLAY,
                  "Use non-zero values to set the value of the blackest pixel in the micrograph.", minimum=0, maximum=512),
        JobOption("lowpass", "Lowpass filter (A)", "20", num, DISPLAY,
                  "Lowpass filter that will be applied to the micrographs for display. Give a negative value to skip it.",
                  minimum=-1, maximum=100),
        JobOption("highpass", "Highpass filter (A)", "-1", num, DISPLAY,
                  "Highpass filter that will be applied to the micrographs for display. Give a negative value to skip it.",
                  minimum=-1, maximum=1000),
        JobOption("angpix", "Pixel size (A)", "-1", num, DISPLAY,
                  "Pixel size in Angstroms; ignored when the micrographs STAR file gives it.", minimum=-1, maximum=5),
        JobOption("do_topaz_denoise", "OR: use Topaz denoising?", "No", yes_no, DISPLAY,
                  "Topaz denoising for display needs the external topaz program, which vitreo does not run."),
        JobOption("fn_topaz_exec", "Topaz executable", "relion_python_topaz", OptionKind.TEXT, DISPLAY,
                  "The location of the Topaz executable (not used by vitreo)."),
        JobOption("do_startend", "Pick start-end coordinates helices?", "No", yes_no, DISPLAY,
                  "Start-end picking of helices is not available in vitreo."),
        JobOption("do_color", "Blue<>red color particles?", "No", yes_no, COLORS,
                  "Colour the circles of the particles from blue to red by a metadata label (display only)."),
        JobOption("color_label", "MetaDataLabel for color:", "rlnAutopickFigureOfMerit", OptionKind.TEXT, COLORS,
                  "The metadata label of the value to plot from red<>blue (display only)."),
        JobOption("fn_color", "STAR file with color label: ", "", OptionKind.FILE, COLORS,
                  "STAR file holding the colour label for the particles of each micrograph (display only).",
                  pattern="STAR file (*.star)"),
        JobOption("blue_value", "Blue value: ", "0", num, COLORS, "The value that is drawn blue.", minimum=0, maximum=4),
        JobOption("red_value", "Red value: ", "2", num, COLORS, "The value that is drawn red.", minimum=0, maximum=4),
        *running_options(has_mpi=False, has_threads=False),
    )


def _validate(params: Params) -> None:
    if not params.text("fn_in"):
        raise ValueError("give the micrographs to pick on (--fn_in)")
    if params.flag("do_startend"):
        raise ValueError("start-end picking of helices is not available in vitreo")
    if params.flag("do_topaz_denoise"):
        raise ValueError("Topaz denoising needs the external topaz program, which vitreo does not run")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [OutputNode(SELECTED, MICS_LABEL), OutputNode(INDEX, COORDS_LABEL)]


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Review the given coordinates of every (new) micrograph and write RELION's manual-picking files."""
    source = params.text("fn_in")
    micrographs = read_micrograph_table(source, params.number("angpix"))
    names = [entry.name for entry in micrographs.entries]
    targets = {name: coordinate_file_for(name, SUFFIX, job_dir) for name in names}
    given = coordinate_files(params.text("fn_coords"), names) if params.text("fn_coords") else {}
    minimum = params.number("minimum_pick_fom") if params.flag("do_fom_threshold") else None
    todo = [name for name in given if not (ctx.is_continue and targets[name].is_file())]
    ctx.progress.start("reviewing coordinates", len(todo))
    problems = []
    for name in todo:
        ctx.check_abort()
        try:
            _review_one(name, given[name], targets[name], minimum, ctx)
        except InputError as err:
            problems.append(str(err))
            ctx.log.info(" ERROR: %s", err)
        ctx.progress.advance()
    done = {name: str(path) for name, path in targets.items() if path.is_file()}
    write_coordinate_index(job_dir / INDEX, done, STAR_VERSION)
    write_star(job_dir / SELECTED, read_star(source), version=STAR_VERSION)
    ctx.log.info(" %d of %d micrographs have picks; written %s", len(done), len(names), job_dir / INDEX)
    if problems:
        raise InputError(None, f"{len(problems)} coordinate file(s) could not be used (the others were): {problems[0]}")


def _review_one(micrograph: str, source: Path, target: Path, minimum: float | None, ctx: JobContext) -> None:
    table = read_coordinates(source)
    if len(table) == 0:
        ctx.log.info(" WARNING: %s holds no particles; %s is left without picks", source, micrograph)
        return
    info = read_header_info(micrograph)
    reviewed = review_coordinates(table, (info.ny, info.nx), minimum)
    if reviewed.outside:
        ctx.log.info(" WARNING: %s: %d coordinate(s) lie outside %s (%d x %d px) and were dropped", source,
                     reviewed.outside, micrograph, info.nx, info.ny)
    if reviewed.below_threshold:
        ctx.log.info(" %s: %d pick(s) below the FOM threshold dropped", source, reviewed.below_threshold)
    write_coordinates(target, manualpick_table(reviewed.table), version=STAR_VERSION)


def job_spec() -> JobSpec:
    """The ManualPick job type."""
    return JobSpec(
        directory="ManualPick",
        type_label="relion.manualpick",
        title="Manual picking",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        continue_rule=ContinueRule.NEW_INPUTS_ONLY,
        hidden_name=".gui_manualpick",
        summary="Import and review particle coordinates (the interactive picker is in the GUI).",
    )


__all__ = ["job_spec", "run"]
