"""The MovieRefine job type (RELION 2.1 ``relion.movierefine``): movie-frame particles of a finished
3D auto-refine, and their per-frame translations refined against its reference.

Inputs: the refinement (``fn_cont``: its ``_optimiser.star`` or ``_data.star``; the half-maps
beside it, or its ``_class001.mrc``) and the aligned movies (``fn_movie_star``: MotionCorr's
corrected_micrograph_movies.star, or any micrographs STAR file, the movie of ``x.mrc`` being
``x_<movie_rootname>.mrcs``). Frames first..last are averaged in groups of ``avg_movie_frames``
and cut, normalised, inverted and rescaled as Extract does, into ``<job>/<micrograph>_<rootname>.mrcs``
(:mod:`vitreo.polish.movie_particles`); Continue does not extract these again. Each particle's
offset in each frame group is then refined against its half-map's projection with a running
average of ``movie_runavg_window`` frames and a prior stddev of ``movie_sigma_offset`` px, and
optionally rotations within ``movie_sigma_angles`` degrees (:mod:`vitreo.polish.frame_alignment`).
Output: ``run_avg<window>_off<stddev>_data.star`` (:mod:`vitreo.polish.movie_table`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitreo.io.errors import InputError
from vitreo.io.star import Table, write_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.extract import settings_from
from vitreo.jobs.movie_extraction import cut_micrograph, read_movie_list, read_refinement
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.jobs.star_tables import STAR_VERSION
from vitreo.em.ctf import CtfParams
from vitreo.picking.extraction import ExtractSettings
from vitreo.polish.frame_alignment import AlignmentSettings, align_frames
from vitreo.polish.movie_particles import FrameGroups, read_movie_particles
from vitreo.polish.movie_table import movie_rows
from vitreo.polish.references import References, load_references, refinement_files

MOVIE_DATA = "ParticleGroupMetadata.star.relion.movierefine"
CHUNK = 16  # particles aligned at once (bounds the likelihood maps: 16 × G × (2N)² floats)
IO, EXTRACT, NORM, REFINE = "I/O", "extract", "normalise", "refine"


def _options() -> tuple[JobOption, ...]:
    number, boolean, text = OptionKind.NUMBER, OptionKind.BOOLEAN, OptionKind.TEXT
    return (
        JobOption("fn_cont", "Continue 3D auto-refine from: ", "", OptionKind.FILE, IO,
                  "The _optimiser.star (or _data.star) of a finished 3D auto-refine; its half-maps (or _class001.mrc) "
                  "beside it are the reference.", pattern="STAR Files (*_optimiser.star *_data.star)"),
        JobOption("fn_movie_star", "Input movies STAR file:", "", OptionKind.INPUT_NODE, IO,
                  "The aligned movies (MotionCorr with --save_movies: corrected_micrograph_movies.star), or micrographs "
                  "whose movies lie beside them.", node_type=node_types.MOVIES, pattern="STAR files (*.star)"),
        JobOption("movie_rootname", "Rootname of movies files:", "movie", text, IO,
                  "The movie of micrograph x.mrc is x_<rootname>.mrcs (a rootname with an extension is appended as is)."),
        JobOption("first_movie_frame", "First movie frame to extract: ", "1", number, EXTRACT,
                  "First frame (1-based) of the movies to use.", minimum=1),
        JobOption("last_movie_frame", "Last movie frame to extract: ", "0", number, EXTRACT,
                  "Last frame to use; 0 or less: the last frame of each movie."),
        JobOption("avg_movie_frames", "Average every so many frames: ", "1", number, EXTRACT,
                  "Average this many consecutive frames into one movie-particle frame.", minimum=1),
        JobOption("max_mpi_nodes", "Maximum number of MPI nodes: ", "8", number, EXTRACT,
                  "Kept for RELION compatibility (vitreo extracts one movie at a time)."),
        JobOption("extract_size", "Particle box size (pix):", "128", number, EXTRACT,
                  "Box cut from the movies; the same as the refined particles'."),
        JobOption("do_rescale", "Rescale particles?", "No", boolean, EXTRACT, "Rescale the boxes, as Extract did."),
        JobOption("rescale", "Re-scaled size (pixels): ", "128", number, EXTRACT, "The final box (even)."),
        JobOption("do_norm", "Normalize movie-particles?", "Yes", boolean, NORM, "Normalise as Extract does."),
        JobOption("bg_diameter", "Diameter background circle (pix): ", "-1", number, NORM,
                  "Background diameter in pixels of the cut box; -1: 75% of the box."),
        JobOption("white_dust", "Stddev for white dust removal: ", "-1", number, NORM, "-1: no dust removal."),
        JobOption("black_dust", "Stddev for black dust removal: ", "-1", number, NORM, "-1: no dust removal."),
        JobOption("do_invert", "Invert contrast?", "Yes", boolean, NORM, "Make white particles, as Extract."),
        JobOption("join_nr_mics", "Process micrographs in batches of: ", "50", number, REFINE,
                  "Micrographs extracted and refined per batch (progress is reported per micrograph)."),
        JobOption("movie_runavg_window", "Running average window: ", "5", number, REFINE,
                  "Frames averaged to refine each frame's translation (odd numbers are symmetric).", minimum=1),
        JobOption("movie_sigma_offset", "Stddev on the translations (pix): ", "1", number, REFINE,
                  "Prior stddev of each frame's offset around the averaged particle's."),
        JobOption("do_alsorot_movies", "Also include rotational searches?", "No", boolean, REFINE,
                  "Also refine small rotations per frame (27 orientations around the refined one)."),
        JobOption("movie_sigma_angles", "Stddev on the rotations (deg): ", "1", number, REFINE,
                  "Prior stddev and step of the rotational searches."),
        *running_options(True, True),
    )


def output_name(params: Params) -> str:
    """RELION's output file name: run_avg<window>_off<stddev>_data.star."""
    return f"run_avg{params.integer('movie_runavg_window')}_off{params.number('movie_sigma_offset'):g}_data.star"


def _validate(params: Params) -> None:
    if not params.text("fn_cont"):
        raise ValueError("give the refinement to continue from (--fn_cont)")
    if not params.text("fn_movie_star"):
        raise ValueError("give the aligned movies (--fn_movie_star)")
    if params.number("movie_sigma_offset") <= 0:
        raise ValueError("--movie_sigma_offset must be positive")
    for name in ("extract_size", "rescale"):
        if name == "rescale" and not params.flag("do_rescale"):
            continue
        if params.integer(name) < 2 or params.integer(name) % 2:
            raise ValueError(f"--{name} must be an even number of pixels")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [OutputNode(output_name(params), MOVIE_DATA)]


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Extract (new) movie particles, refine their per-frame offsets, write the movie-particle STAR file."""
    data, maps = refinement_files(params.text("fn_cont"))
    particles, optics, columns = read_refinement(data)
    settings = settings_from(params)
    movies = read_movie_list(params.text("fn_movie_star"), params.text("movie_rootname"))
    pixel = float(np.asarray(columns["rlnImagePixelSize"])[0])
    movie_pixel = movies.pixel_size or pixel * settings.final_box / settings.box
    pixel = movie_pixel * settings.box / settings.final_box
    references = load_references(maps, settings.final_box, pixel)
    ctx.log.info(" Reference map(s): %s", ", ".join(str(p) for p in maps.values()))
    alignment = AlignmentSettings(window=params.integer("movie_runavg_window"),
                                  sigma_offset=params.number("movie_sigma_offset"),
                                  sigma_angles=params.number("movie_sigma_angles") if params.flag("do_alsorot_movies")
                                  else 0.0)
    names = np.asarray(particles["rlnMicrographName"]).astype(str)
    micrographs = list(dict.fromkeys(names))
    ctx.progress.start("movie refinement", len(micrographs))
    tables = []
    for micrograph in micrographs:
        ctx.check_abort()
        movie = movies.movie(micrograph)
        if movie is None:
            ctx.log.info(" WARNING: no movie for %s in %s; its particles are skipped", micrograph,
                         params.text("fn_movie_star"))
            ctx.progress.advance()
            continue
        rows = np.flatnonzero(names == micrograph)
        table = _refine_micrograph(job_dir, micrograph, movie, particles.select(rows),
                                   {k: np.asarray(v)[rows] if np.ndim(v) else v for k, v in columns.items()},
                                   settings, references, alignment, params, ctx, pixel)
        if table is not None:
            tables.append(table)
        ctx.progress.advance()
    ctx.progress.finish()
    if not tables:
        raise InputError(params.text("fn_movie_star"), "no movie particles could be extracted (no matching movies?)")
    out_optics = optics.copy()
    out_optics["rlnImagePixelSize"] = np.full(len(optics), pixel)
    out_optics["rlnImageSize"] = np.full(len(optics), settings.final_box, dtype=np.int64)
    merged = Table({label: np.concatenate([np.asarray(t[label]) for t in tables]) for label in tables[0].labels})
    write_star(job_dir / output_name(params), {"optics": out_optics, "particles": merged}, version=STAR_VERSION)
    ctx.log.info(" Written %s with %d movie-particle frames", job_dir / output_name(params), len(merged))


def _refine_micrograph(job_dir: Path, micrograph: str, movie: str, particles: Table, columns: dict,
                       settings: ExtractSettings, references: References, alignment: AlignmentSettings,
                       params: Params, ctx: JobContext, pixel: float) -> Table | None:
    """Extract (unless done before) and refine one micrograph's particles; their rows, or None."""
    frames = (params.integer("first_movie_frame"), params.integer("last_movie_frame"),
              params.integer("avg_movie_frames"))
    cut = cut_micrograph(job_dir, micrograph, movie, particles, settings, frames, params.text("movie_rootname"),
                         pixel, ctx.is_continue, ctx.log)
    if cut is None:
        return None
    offsets, angles = _align(cut.stack, cut.chosen, particles, columns, cut.groups, references, alignment, pixel)
    return movie_rows(particles.select(cut.chosen), cut.groups.numbers, cut.groups.size, alignment.window,
                      str(cut.stack), offsets, angles, pixel)


def _align(stack: Path, chosen: np.ndarray, particles: Table, columns: dict, groups: FrameGroups,
           references: References, alignment: AlignmentSettings, pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame offsets (P, G, 2) px and angles (P, G, 3) of the kept particles, in chunks."""
    angles = np.stack([np.asarray(particles[label], float) for label in ("rlnAngleRot", "rlnAngleTilt",
                                                                          "rlnAnglePsi")], axis=1)[chosen]
    origins = np.stack([np.asarray(particles[label], float) if label in particles else np.zeros(len(particles))
                        for label in ("rlnOriginXAngst", "rlnOriginYAngst")], axis=1)[chosen] / pixel
    subsets = (np.asarray(particles["rlnRandomSubset"], np.int64) if "rlnRandomSubset" in particles
               else np.zeros(len(particles), np.int64))[chosen]
    ctf = CtfParams.from_columns(columns)[torch.from_numpy(chosen)] if "rlnDefocusU" in columns else None
    offsets, refined = [], []
    for start in range(0, len(chosen), CHUNK):
        part = slice(start, start + CHUNK)
        frames = read_movie_particles(stack, np.arange(len(chosen))[part], len(groups))
        result = align_frames(frames, torch.from_numpy(angles[part]), torch.from_numpy(origins[part]),
                              subsets[part], None if ctf is None else ctf[part], references, alignment)
        offsets.append(result.offsets.double().numpy())
        refined.append(result.angles.double().numpy())
    return np.concatenate(offsets), np.concatenate(refined)


def job_spec() -> JobSpec:
    """The MovieRefine job type."""
    return JobSpec(
        directory="MovieRefine",
        type_label="relion.movierefine",
        title="Movie refinement",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        continue_rule=ContinueRule.NEW_INPUTS_ONLY,
        harsh_clean=("**/*.mrcs",),
        hidden_name=".gui_movierefine",
        summary="Extract movie-frame particles of a 3D auto-refine and refine their per-frame translations.",
    )


__all__ = ["job_spec", "run", "output_name", "MOVIE_DATA"]
