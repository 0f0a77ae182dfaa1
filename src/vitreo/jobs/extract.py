"""The Extract job type (RELION ``relion.extract``): particle boxes cut from micrographs, with metadata.

Inputs: the micrographs (with CTFs and optics) and either picked coordinates (an index such as
``autopick.star`` or an imported ``coords_suffix`` node) or, for re-extraction, refined particles
(their offsets reset, kept, or used to re-centre them; :mod:`vitreo.picking.reextract`).
Outputs: ``Movies/<name>.mrcs`` stacks and ``Movies/<name>_extract.star`` rows per micrograph,
``particles.star`` (optics + particles) and, when re-extracting, the index ``extractpick.star``.
Micrographs are extracted by ``ctx.executor`` (``nr_mpi`` processes, or Dask workers). Coordinates outside a micrograph are
reported and skipped, as are boxes crossing its edge (counted) and empty coordinate files; the
other particles are still extracted. Continuing extracts only micrographs not done before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vitreo.em.parallel import results as item_results
from vitreo.io.coords import coordinate_file_for, read_coordinates
from vitreo.io.errors import InputError
from vitreo.io.optics import with_optics
from vitreo.io.star import Table, read_star, write_star
from vitreo.io.star_convert import convert_to_relion31, is_pre31
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.extract_options import extract_options
from vitreo.jobs.options import Params
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.jobs.star_tables import STAR_VERSION
from vitreo.picking.coordinate_review import fom_at_least
from vitreo.picking.coordinate_sets import coordinate_files, write_coordinate_index
from vitreo.picking.extract_task import ROWS_BLOCK, ExtractResult, ExtractTask
from vitreo.picking.extraction import ExtractSettings, bg_radius_for
from vitreo.picking.micrograph_table import MicrographEntry, MicrographTable, read_micrograph_table
from vitreo.picking.particle_table import concatenate_tables, particle_optics
from vitreo.picking.reextract import reextraction_coordinates

PARTICLES = "particles.star"
PICKS = "extractpick.star"
ROWS_SUFFIX = "_extract.star"
REEXTRACT_PARTS_LABEL = "ParticleGroupMetadata.star.relion.reextract"
REEXTRACT_COORDS_LABEL = "MicrographCoordsGroup.star.relion.reextract"


def _validate(params: Params) -> None:
    if not params.text("star_mics"):
        raise ValueError("give the micrographs to extract from (--star_mics)")
    if params.flag("do_extract_helix"):
        raise ValueError("extracting helical segments is not available in vitreo")
    if params.flag("do_reextract"):
        if not params.text("fndata_reextract"):
            raise ValueError("give the refined particles to re-extract (--fndata_reextract)")
        if params.flag("do_reset_offsets") and params.flag("do_recenter"):
            raise ValueError("you cannot both reset refined offsets and recenter on refined coordinates, choose one")
        for name in ("recenter_x", "recenter_y", "recenter_z"):
            params.number(name)
    elif not params.text("coords_suffix"):
        raise ValueError("give the coordinates to extract (--coords_suffix)")
    for name in ("extract_size", "rescale"):
        if name == "rescale" and not params.flag("do_rescale"):
            continue
        size = params.integer(name)
        if size < 2 or size % 2:
            raise ValueError(f"--{name} must be an even number of pixels, not {size}")


def _label(params: Params) -> str:
    return "relion.extract.reextract" if params.flag("do_reextract") else "relion.extract"


def _output_nodes(params: Params) -> list[OutputNode]:
    if params.flag("do_reextract"):
        return [OutputNode(PARTICLES, REEXTRACT_PARTS_LABEL), OutputNode(PICKS, REEXTRACT_COORDS_LABEL)]
    return [OutputNode(PARTICLES, node_types.PARTICLES)]


def settings_from(params: Params) -> ExtractSettings:
    """Extraction settings from the job parameters (RELION's background radius rule included)."""
    box = params.integer("extract_size")
    rescaled = params.integer("rescale") if params.flag("do_rescale") else 0
    return ExtractSettings(box=box, rescaled=rescaled, normalise=params.flag("do_norm"),
                           bg_radius=bg_radius_for(params.number("bg_diameter"), box, rescaled),
                           white_dust=params.number("white_dust"), black_dust=params.number("black_dust"),
                           invert=params.flag("do_invert"))


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Extract the particles of every (new) micrograph and write particles.star."""
    micrographs = read_micrograph_table(params.text("star_mics"))
    if micrographs.optics is None:
        raise InputError(micrographs.path, "no optics groups (data_optics) to describe the particles")
    settings = settings_from(params)
    rows_files = {e.name: str(coordinate_file_for(e.name, ROWS_SUFFIX, job_dir)) for e in micrographs.entries}
    sources = _reextraction(params, micrographs) if params.flag("do_reextract") else _picks(params, micrographs, ctx)
    todo = [(entry, table, rows_files[entry.name]) for entry, table in sources
            if not (ctx.is_continue and Path(rows_files[entry.name]).is_file())]
    ctx.log.info(" %d micrograph(s) to extract, %d particles", len(todo), sum(len(t) for _, t, _ in todo))
    task = ExtractTask(settings, params.flag("do_float16"), STAR_VERSION)
    results = _extract_all(task, todo, params, ctx)
    done = [e for e in micrographs.entries if Path(rows_files[e.name]).is_file()]
    count = _write_particles(job_dir, micrographs, settings, done, rows_files)
    if params.flag("do_reextract"):
        write_coordinate_index(job_dir / PICKS, {e.name: rows_files[e.name] for e in done}, STAR_VERSION)
    ctx.log.info(" Written %s with %d particles from %d micrographs", job_dir / PARTICLES, count, len(done))
    failed = [r for r in results if r.error]
    if failed:
        raise InputError(None, f"{len(failed)} micrograph(s) could not be extracted (the others were): {failed[0].error}")
    if count == 0:
        raise InputError(None, "no particles were extracted: check the coordinates and the box size")


def _picks(params: Params, micrographs: MicrographTable, ctx: JobContext) -> list[tuple[MicrographEntry, Table]]:
    """(micrograph, coordinates) for every micrograph with picks, FOM threshold applied."""
    files = coordinate_files(params.text("coords_suffix"), [e.name for e in micrographs.entries])
    if not files:
        raise InputError(params.text("coords_suffix"), "no coordinate files for any of the micrographs in "
                                                       f"{micrographs.path}")
    minimum = params.number("minimum_pick_fom") if params.flag("do_fom_threshold") else None
    found = []
    for entry in micrographs.entries:
        if entry.name not in files:
            continue
        table = read_coordinates(files[entry.name])
        if len(table) == 0:
            ctx.log.info(" WARNING: %s holds no particles; nothing to extract from %s", files[entry.name], entry.name)
            continue
        found.append((entry, table.select(fom_at_least(table, minimum))))
    return found


def _reextraction(params: Params, micrographs: MicrographTable) -> list[tuple[MicrographEntry, Table]]:
    """(micrograph, refined particles with re-extraction coordinates) per micrograph."""
    path = params.text("fndata_reextract")
    blocks = read_star(path)
    if is_pre31(blocks):
        blocks = convert_to_relion31(blocks)
    particles, optics = blocks.get("particles"), blocks.get("optics")
    if not isinstance(particles, Table) or "rlnMicrographName" not in particles or "rlnCoordinateX" not in particles:
        raise InputError(path, "no particles with rlnMicrographName and rlnCoordinateX/Y to re-extract")
    image_pixel = with_optics(particles, optics)["rlnImagePixelSize"] if isinstance(optics, Table) else None
    names, which = np.unique(particles["rlnMicrographName"].astype(str), return_inverse=True)
    by_stem = {Path(e.name).stem: e for e in micrographs.entries}
    centre = tuple(params.number(f"recenter_{axis}") for axis in "xyz")
    found = []
    for index, name in enumerate(names):
        entry = by_stem.get(Path(name).stem)
        if entry is None:
            continue
        rows = np.flatnonzero(which == index)
        pixel = float(image_pixel[rows[0]]) if image_pixel is not None else entry.pixel_size
        table = reextraction_coordinates(particles.select(rows), entry.pixel_size, pixel,
                                         recenter=params.flag("do_recenter"),
                                         reset_offsets=params.flag("do_reset_offsets"), centre=centre)
        found.append((entry, table))
    order = {entry.name: i for i, entry in enumerate(micrographs.entries)}
    found.sort(key=lambda pair: order[pair[0].name])
    if not found:
        raise InputError(path, f"none of its particles is on a micrograph of {micrographs.path}")
    return found


def _extract_all(task: ExtractTask, todo: list, params: Params, ctx: JobContext) -> list[ExtractResult]:
    ctx.progress.start("extracting particles", len(todo))
    results = []
    for _, result in item_results(ctx.executor.map(task, todo)):
        ctx.check_abort()
        results.append(result)
        if result.error:
            ctx.log.info(" ERROR: %s: %s", result.micrograph, result.error)
        if result.outside:
            ctx.log.info(" WARNING: %s: %d coordinate(s) lie outside the micrograph and were skipped",
                         result.micrograph, result.outside)
        if result.near_edge:
            ctx.log.info(" %s: %d particle(s) too close to the edge for a %d px box were skipped",
                         result.micrograph, result.near_edge, task.settings.box)
        ctx.progress.advance()
    return results


def _write_particles(job_dir: Path, micrographs: MicrographTable, settings: ExtractSettings,
                     done: list[MicrographEntry], rows_files: dict[str, str]) -> int:
    """particles.star: the optics of the particles and every extracted row, in micrograph order."""
    tables = []
    for entry in done:
        block = read_star(rows_files[entry.name]).get(ROWS_BLOCK)
        if isinstance(block, Table) and len(block):
            tables.append(block)
    particles = concatenate_tables(tables)
    optics = particle_optics(micrographs.optics, micrographs.entries[0].pixel_size, settings.box, settings.final_box)
    write_star(job_dir / PARTICLES, {"optics": optics, "particles": particles}, version=STAR_VERSION)
    return len(particles)


def job_spec() -> JobSpec:
    """The Extract job type."""
    return JobSpec(
        directory="Extract",
        type_label="relion.extract",
        title="Particle extraction",
        options=extract_options(),
        run=run,
        output_nodes=_output_nodes,
        label_for=_label,
        validate=_validate,
        continue_rule=ContinueRule.NEW_INPUTS_ONLY,
        hidden_name=".gui_extract",
        summary="Extract particle boxes from micrographs, normalised and with their CTF and optics metadata.",
    )


__all__ = ["job_spec", "run", "settings_from"]
