"""Movie-frame particles of a refinement, cut from aligned movies: what MovieRefine extracts, and
what Polish cuts itself from RELION 5's inputs (a refinement's particles and MotionCorr's
micrographs). The movie of micrograph ``x.mrc`` is named by the movies STAR file
(rlnMicrographMovieName) or lies beside it as ``x_<rootname>.mrcs`` (vitreo's MotionCorr writes
``x_movie.mrcs`` with ``--save_movies``). Continue does not cut a micrograph's stack again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitreo.io.coords import coordinate_file_for
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_header_info
from vitreo.io.optics import with_optics
from vitreo.io.star import Table, read_star
from vitreo.io.star_convert import convert_to_relion31, is_pre31
from vitreo.picking.extraction import ExtractSettings, select_boxes
from vitreo.polish.movie_particles import FrameGroups, extract_movie_particles, frame_groups

NEEDED = ("rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")


def read_refinement(data: str | Path) -> tuple[Table, Table, dict]:
    """A refinement's particles, optics and per-particle columns (optics merged in); InputError
    when tables or the columns polishing needs are missing."""
    blocks = read_star(data)
    if is_pre31(blocks):
        blocks = convert_to_relion31(blocks)
    particles, optics = blocks.get("particles"), blocks.get("optics")
    if not isinstance(particles, Table) or not isinstance(optics, Table):
        raise InputError(data, "expected data_optics and data_particles tables")
    missing = [label for label in NEEDED if label not in particles]
    if missing:
        raise InputError(data, f"missing column(s) {', '.join(missing)}")
    return particles, optics, with_optics(particles, optics)


def movie_path(micrograph: str, rootname: str) -> str:
    """The movie beside micrograph ``x.mrc``: ``x_<rootname>.mrcs`` (or ``x<rootname>`` when the
    rootname has an extension)."""
    stem = str(Path(micrograph).with_suffix(""))
    return stem + rootname if "." in rootname else f"{stem}_{rootname}.mrcs"


@dataclass(frozen=True)
class MovieList:
    """Movies by micrograph name (and by its stem), their pixel size (Å, None when not given),
    and each micrograph's motion file (rlnMicrographMetadata) where the table names one."""

    movies: dict[str, str]
    pixel_size: float | None
    metadata: dict[str, str]

    def movie(self, micrograph: str) -> str | None:
        return self.movies.get(micrograph) or self.movies.get(Path(micrograph).stem)


def read_movie_list(path: str, rootname: str) -> MovieList:
    """The movies of a data_movies or data_micrographs STAR file (see the module docstring)."""
    blocks = read_star(path)
    table = blocks.get("movies") if isinstance(blocks.get("movies"), Table) else blocks.get("micrographs")
    if not isinstance(table, Table) or "rlnMicrographName" not in table:
        raise InputError(path, "expected a data_movies or data_micrographs table with rlnMicrographName")
    movies: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for row, name in enumerate(np.asarray(table["rlnMicrographName"]).astype(str)):
        movie = (str(table["rlnMicrographMovieName"][row]) if "rlnMicrographMovieName" in table
                 else movie_path(name, rootname))
        movies[name] = movies[Path(name).stem] = movie
        if "rlnMicrographMetadata" in table:
            metadata[name] = str(table["rlnMicrographMetadata"][row])
    pixel = None
    optics = blocks.get("optics")
    if isinstance(optics, Table):
        for label in ("rlnMicrographPixelSize", "rlnMicrographOriginalPixelSize"):
            if label in optics:
                pixel = float(np.asarray(optics[label])[0])
                break
    return MovieList(movies, pixel, metadata)


@dataclass(frozen=True)
class MicrographCut:
    """One micrograph's movie-particle stack, its frame groups and which of its particles (indices
    into the micrograph's rows) are in it."""

    stack: Path
    groups: FrameGroups
    chosen: np.ndarray


def cut_micrograph(job_dir: Path, micrograph: str, movie: str, particles: Table, settings: ExtractSettings,
                   frames: tuple[int, int, int], rootname: str, pixel: float, is_continue: bool,
                   log: logging.Logger, float16: bool = False) -> MicrographCut | None:
    """Cut (unless a continued job has done so) ``particles`` of one micrograph from every frame
    group of ``movie`` (``frames``: first, last, average) into a float32 (or ``float16``) stack;
    None when none fits inside it."""
    if not Path(movie).is_file():
        raise InputError(movie, f"the aligned movie of {micrograph} does not exist (vitreo's MotionCorr writes it "
                                "with --save_movies among its additional arguments)")
    info = read_header_info(movie)
    groups = frame_groups(info.nz, *frames)
    centres = np.stack([np.asarray(particles["rlnCoordinateX"], float),
                        np.asarray(particles["rlnCoordinateY"], float)], axis=1)
    stack = coordinate_file_for(micrograph, "_" + Path(rootname).stem + ".mrcs", job_dir)
    if is_continue and stack.is_file():
        kept = select_boxes(centres, settings.box, (info.ny, info.nx)).kept
    else:
        kept = extract_movie_particles(movie, centres, groups, settings, stack, pixel, float16)
    if not kept.any():
        log.info(" WARNING: no particle of %s fits inside its movie", micrograph)
        return None
    if (~kept).sum():
        log.info(" %s: %d particle(s) too close to the edge were skipped", micrograph, int((~kept).sum()))
    return MicrographCut(stack, groups, np.flatnonzero(kept))


__all__ = ["read_refinement", "movie_path", "MovieList", "read_movie_list", "MicrographCut", "cut_micrograph"]
