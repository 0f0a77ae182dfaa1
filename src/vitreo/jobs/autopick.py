"""The AutoPick job type (RELION ``relion.autopick``): template matching, Gaussian blob or LoG picking.

Writes, in the job directory, one coordinate file per micrograph
(``Movies/<name>_autopick.star``: rlnCoordinateX/Y, rlnAutopickFigureOfMerit, rlnClassNumber,
rlnAnglePsi), the index ``autopick.star`` (data_coordinate_files), ``summary.star`` (picks and
mean FOM per micrograph) and ``logfile.pdf``; with "Write FOM maps" also
``Movies/<name>_autopick_fom.mrcs``. Template picking also keeps its references
(``references.star`` / ``.mrcs``, in the contrast of extracted particles; rlnClassNumber indexes
them), which Sort can compare the extracted particles with. Micrographs are picked by
``ctx.executor`` (``nr_mpi`` processes, or Dask workers). Continuing picks only micrographs without a coordinate file, unless FOM maps are read or
written (then all are re-picked, as RELION does). A micrograph that cannot be picked is
reported and the others are still picked; the job then fails, and continuing retries it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vitreo.em.parallel import results as item_results
from vitreo.em.backend import parse_devices
from vitreo.io.coords import coordinate_file_for, read_coordinates
from vitreo.io.errors import InputError
from vitreo.io.star import Table, write_star
from vitreo.jobs import node_types
from vitreo.jobs.autopick_options import autopick_options, healpix_order
from vitreo.jobs.context import JobContext
from vitreo.jobs.options import Params
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.jobs.star_tables import STAR_VERSION
from vitreo.picking.autopick import LogPicker, LogSettings, PeakSettings, TemplatePicker, TemplateSettings
from vitreo.picking.autopick_task import AutopickTask, PickResult
from vitreo.picking.coordinate_sets import write_coordinate_index
from vitreo.picking.micrograph_table import MicrographTable, read_micrograph_table
from vitreo.picking.references import References, gaussian_blob, project_map, read_references_2d, write_references
from vitreo.plots.picking_plots import plot_picking_log

PICKNAME = "autopick"
SUFFIX = f"_{PICKNAME}.star"
INDEX = "autopick.star"
SUMMARY = "summary.star"
LOGFILE = "logfile.pdf"
REFERENCES = "references.star"  # vitreo: the templates used (class numbers index them), e.g. for Sort
REFERENCES_STACK = "references.mrcs"
COORDS_LABEL = "MicrographCoordsGroup.star.relion.autopick"
LOG_LABEL = "LogFile.pdf.relion.autopick"


def _method(params: Params) -> str:
    chosen = [name for name in ("do_refs", "do_log", "do_gauss", "do_topaz") if params.flag(name)]
    if len(chosen) != 1:
        raise ValueError("on the I/O tab choose exactly one method: template matching (--do_refs), "
                         "Laplacian-of-Gaussian (--do_log) or a Gaussian blob (--do_gauss)")
    return chosen[0]


def _validate(params: Params) -> None:
    method = _method(params)
    if method == "do_topaz":
        raise ValueError("Topaz picking needs the external topaz program, which vitreo does not run; "
                         "use template matching, LoG or a Gaussian blob")
    if params.flag("do_pick_helical_segments"):
        raise ValueError("picking helical segments is not available in vitreo")
    if params.flag("continue_manual"):
        raise ValueError("correcting picks interactively is done in the GUI's picker, not by this job")
    if not params.text("fn_input_autopick"):
        raise ValueError("give the micrographs to pick from (--fn_input_autopick)")
    if method == "do_refs":
        wanted = "fn_ref3d_autopick" if params.flag("do_ref3d") else "fn_refs_autopick"
        if not params.text(wanted):
            raise ValueError(f"give the references to pick with (--{wanted})")
    if method == "do_gauss" and params.number("particle_diameter") <= 0:
        raise ValueError("a Gaussian blob needs its diameter: set --particle_diameter (Å)")
    if method == "do_log" and not 0 < params.number("log_diam_min") <= params.number("log_diam_max"):
        raise ValueError("LoG diameters must satisfy 0 < --log_diam_min <= --log_diam_max")
    if params.flag("do_read_fom_maps") and params.flag("do_write_fom_maps"):
        raise ValueError("FOM maps are either read (--do_read_fom_maps) or written (--do_write_fom_maps), not both")
    if params.number("psi_sampling_autopick") <= 0:
        raise ValueError("--psi_sampling_autopick must be positive")


def _label(params: Params) -> str:
    method = _method(params)
    if method == "do_log":
        return "relion.autopick.log"
    if method == "do_topaz":
        return "relion.autopick.topaz"
    return "relion.autopick.ref3d" if method == "do_refs" and params.flag("do_ref3d") else "relion.autopick.ref2d"


def _output_nodes(params: Params) -> list[OutputNode]:
    nodes = [OutputNode(INDEX, COORDS_LABEL), OutputNode(LOGFILE, LOG_LABEL)]
    if not params.flag("do_log"):
        nodes.append(OutputNode(REFERENCES, node_types.IMAGES_2D))
    return nodes


def reference_images(params: Params, micrograph_pixel: float) -> References:
    """The references as given (a Gaussian blob is white, as particles after extraction)."""
    declared = params.number("angpix_ref")
    declared = declared if declared > 0 else micrograph_pixel
    if params.flag("do_gauss"):
        return gaussian_blob(params.number("particle_diameter"), micrograph_pixel, 1.0)
    if params.flag("do_ref3d"):
        return project_map(params.text("fn_ref3d_autopick"), declared, healpix_order(params.text("ref3d_sampling")),
                           params.text("ref3d_symmetry") or "C1")
    return read_references_2d(params.text("fn_refs_autopick"), declared)


def make_picker(params: Params, references: References | None) -> TemplatePicker | LogPicker:
    """The picker the parameters describe: LoG, or template matching with ``references``
    (turned dark, like particles in raw micrographs, when they have inverted contrast)."""
    if params.flag("do_log"):
        return LogPicker(LogSettings(params.number("log_diam_min"), params.number("log_diam_max"),
                                     params.number("log_maxres"), params.flag("log_invert"),
                                     params.number("log_adjust_thr"), params.number("log_upper_thr")))
    gauss = params.flag("do_gauss")
    settings = TemplateSettings(
        lowpass=params.number("lowpass"), highpass=params.number("highpass"), shrink=params.number("shrink"),
        psi_step=360.0 if gauss else params.number("psi_sampling_autopick"),
        mask_diameter=params.number("particle_diameter"), use_ctf=params.flag("do_ctf_autopick") and not gauss,
        ignore_first_peak=params.flag("do_ignore_first_ctfpeak_autopick"))
    peaks = PeakSettings(params.number("threshold_autopick"), params.number("mindist_autopick"),
                         params.number("maxstddevnoise_autopick"), params.number("minavgnoise_autopick"))
    assert references is not None
    dark = gauss or params.flag("do_invert_refs")
    return TemplatePicker(References(-references.images, references.pixel_size) if dark else references, settings, peaks)


def _pixel_size(micrographs: MicrographTable) -> float:
    sizes = {round(entry.pixel_size, 4) for entry in micrographs.entries}
    if len(sizes) > 1:
        raise InputError(micrographs.path, f"micrographs of different pixel sizes ({', '.join(map(str, sorted(sizes)))} Å) "
                                           "cannot be picked in one job")
    return micrographs.entries[0].pixel_size


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Pick every (new) micrograph of the input STAR file."""
    micrographs = read_micrograph_table(params.text("fn_input_autopick"), params.number("angpix"))
    references = None if params.flag("do_log") else reference_images(params, _pixel_size(micrographs))
    picker = make_picker(params, references)
    uses_ctf = isinstance(picker, TemplatePicker) and picker.settings.use_ctf
    if uses_ctf and any(entry.ctf is None for entry in micrographs.entries):
        raise InputError(micrographs.path, "has no CTF parameters (rlnDefocusU): run CTF estimation first, "
                                           "or set 'Are References CTF corrected?' to No")
    if isinstance(picker, TemplatePicker):
        ctx.log.info(" Picking with %d reference(s), mask diameter %.0f Å, threshold %.2f", len(picker.references),
                     picker.mask_diameter, picker.peaks.threshold)
    read_maps, write_maps = params.flag("do_read_fom_maps"), params.flag("do_write_fom_maps")
    coordinates = {entry.name: str(coordinate_file_for(entry.name, SUFFIX, job_dir)) for entry in micrographs.entries}
    redo = not ctx.is_continue or read_maps or write_maps
    todo = [(entry, coordinates[entry.name]) for entry in micrographs.entries
            if redo or not Path(coordinates[entry.name]).is_file()]
    ctx.log.info(" %d micrograph(s) to pick (%d in the input)", len(todo), len(micrographs))
    device = parse_devices(ctx.gpu)[0]  # micrographs are shared among processes, each using its share of the CPUs
    task = AutopickTask(picker, read_maps, write_maps, STAR_VERSION, str(device))
    if references is not None:
        write_references(job_dir / REFERENCES_STACK, job_dir / REFERENCES, references, STAR_VERSION)
    results = _pick_all(task, todo, ctx)
    _write_outputs(job_dir, micrographs, coordinates, results, ctx)
    failed = [r for r in results if r.error]
    if failed:
        raise InputError(None, f"{len(failed)} micrograph(s) could not be picked (the others were): {failed[0].error}")


def _pick_all(task: AutopickTask, todo: list, ctx: JobContext) -> list[PickResult]:
    ctx.progress.start("auto-picking", len(todo))
    results: list[PickResult] = []
    notes: set[str] = set()
    for _, result in item_results(ctx.executor.map(task, todo)):
        ctx.check_abort()
        results.append(result)
        if result.error:
            ctx.log.info(" ERROR: %s: %s", result.micrograph, result.error)
        elif result.note and result.note not in notes:
            notes.add(result.note)
            ctx.log.info(" + %s", result.note)
        ctx.progress.advance()
    return results


def _write_outputs(job_dir: Path, micrographs: MicrographTable, coordinates: dict[str, str],
                   results: list[PickResult], ctx: JobContext) -> None:
    """autopick.star (every micrograph with a coordinate file, in input order), summary.star, logfile.pdf."""
    done = {name: file for name, file in coordinates.items() if Path(file).is_file()}
    write_coordinate_index(job_dir / INDEX, done, STAR_VERSION)
    foms = _all_foms(done, {r.micrograph: r.fom for r in results if not r.error})
    summary = Table({
        "rlnMicrographName": np.array(list(foms), dtype=object),
        "rlnAutopickFigureOfMerit": np.array([float(np.mean(v)) if len(v) else 0.0 for v in foms.values()]),
        "rlnGroupNrParticles": np.array([len(v) for v in foms.values()], dtype=np.int64),
    })
    write_star(job_dir / SUMMARY, {"": summary}, version=STAR_VERSION)
    plot_picking_log(job_dir / LOGFILE, foms, "rlnAutopickFigureOfMerit", f"Auto-picking: {job_dir}")
    total = sum(len(v) for v in foms.values())
    ctx.log.info(" Picked %d particles on %d micrographs; written %s", total, len(done), job_dir / INDEX)


def _all_foms(done: dict[str, str], fresh: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """FOMs per micrograph: from this run, or read back from earlier coordinate files."""
    foms = {}
    for name, file in done.items():
        if name in fresh:
            foms[name] = fresh[name]
        else:
            table = read_coordinates(file)
            foms[name] = np.asarray(table["rlnAutopickFigureOfMerit"]) if "rlnAutopickFigureOfMerit" in table \
                else np.zeros(len(table))
    return foms


def job_spec() -> JobSpec:
    """The AutoPick job type."""
    return JobSpec(
        directory="AutoPick",
        type_label="relion.autopick",
        title="Auto-picking",
        options=autopick_options(),
        run=run,
        output_nodes=_output_nodes,
        label_for=_label,
        validate=_validate,
        continue_rule=ContinueRule.NEW_INPUTS_ONLY,
        gentle_clean=("**/*_autopick_fom.mrcs",),  # FOM maps: large, and re-made by picking again
        hidden_name=".gui_autopick",
        summary="Pick particles by template matching, a Gaussian blob or Laplacian-of-Gaussian blob detection.",
    )


__all__ = ["job_spec", "run", "reference_images", "make_picker"]
