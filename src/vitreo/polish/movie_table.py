"""The movie-particle STAR file: one row per particle and frame group (RELION's movie data).

Rows keep the averaged particle's columns and add rlnMovieFrameNumber (first movie frame of the
group), rlnAverageNrOfFrames (frames per group), rlnMovieFramesRunningAverage, rlnParticleName
(the averaged particle), the averaged particle's offsets and angles as priors
(rlnOriginX/YPriorAngst, rlnAngleRot/Tilt/PsiPrior) and the frame's refined rlnOriginX/YAngst
and angles. rlnImageName points into the micrograph's movie-particle stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.image_refs import format_image_names, parse_image_names
from vitreo.io.star import Table

ANGLES = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
PRIOR_ANGLES = ("rlnAngleRotPrior", "rlnAngleTiltPrior", "rlnAnglePsiPrior")
ORIGINS = ("rlnOriginXAngst", "rlnOriginYAngst")
PRIOR_ORIGINS = ("rlnOriginXPriorAngst", "rlnOriginYPriorAngst")
MOVIE_COLUMNS = ("rlnMovieFrameNumber", "rlnAverageNrOfFrames", "rlnMovieFramesRunningAverage", "rlnParticleName",
                 *PRIOR_ORIGINS, *PRIOR_ANGLES)


def particle_names(particles: Table) -> np.ndarray:
    """Names identifying the averaged particles: their rlnImageName, or row@micrograph."""
    if "rlnImageName" in particles:
        return np.asarray(particles["rlnImageName"], dtype=object)
    rows = np.arange(1, len(particles) + 1)
    return np.array([f"{i:06d}@{m}" for i, m in zip(rows, particles["rlnMicrographName"])], dtype=object)


def movie_rows(particles: Table, numbers: np.ndarray, group_size: int, window: int, stack: str,
               offsets: np.ndarray, angles: np.ndarray, pixel_size: float) -> Table:
    """Rows (particle-major) for averaged particles (P rows) in frame groups ``numbers`` (G,), with
    refined offsets (P, G, 2) px and angles (P, G, 3) degrees, images in ``stack`` (g·P + p + 1)."""
    n, groups = len(particles), len(numbers)
    repeat = np.repeat(np.arange(n), groups)
    rows = particles.select(repeat)
    rows["rlnParticleName"] = np.repeat(particle_names(particles), groups)
    rows["rlnImageName"] = format_image_names((np.arange(groups)[None, :] * n + np.arange(n)[:, None]).reshape(-1), np.full(n * groups, stack, dtype=object))
    rows["rlnMovieFrameNumber"] = np.tile(numbers, n)
    rows["rlnAverageNrOfFrames"] = np.full(n * groups, group_size)
    rows["rlnMovieFramesRunningAverage"] = np.full(n * groups, window)
    for prior, label in zip(PRIOR_ORIGINS, ORIGINS):
        rows[prior] = np.repeat(np.asarray(particles[label], float) if label in particles else np.zeros(n), groups)
    for prior, label in zip(PRIOR_ANGLES, ANGLES):
        rows[prior] = np.repeat(np.asarray(particles[label], float), groups)
    rows["rlnOriginXAngst"] = offsets[..., 0].reshape(-1) * pixel_size
    rows["rlnOriginYAngst"] = offsets[..., 1].reshape(-1) * pixel_size
    for axis, label in enumerate(ANGLES):
        rows[label] = angles[..., axis].reshape(-1)
    return rows


@dataclass(frozen=True)
class MovieParticles:
    """Movie-particle rows regrouped per averaged particle (P particles × G frame groups).

    ``first_rows`` (P,) index one row per particle (its first frame group); ``index`` (P, G)
    all its rows in frame order; ``numbers`` (G,) the groups' first movie frames.
    """

    table: Table
    index: np.ndarray
    numbers: np.ndarray
    group_size: int
    window: int
    pixel_size: float

    @property
    def first_rows(self) -> np.ndarray:
        return self.index[:, 0]

    def column(self, label: str) -> np.ndarray:
        """A per-frame column as (P, G)."""
        return np.asarray(self.table[label])[self.index]

    def offsets(self) -> np.ndarray:
        """Per-frame offsets (P, G, 2) px."""
        return np.stack([self.column(label) for label in ORIGINS], axis=-1) / self.pixel_size

    def priors(self) -> np.ndarray:
        """The averaged particles' offsets (P, 2) px."""
        return np.stack([self.column(label)[:, 0] for label in PRIOR_ORIGINS], axis=-1) / self.pixel_size

    def prior_angles(self) -> np.ndarray:
        """The averaged particles' angles (P, 3) degrees."""
        return np.stack([self.column(label)[:, 0] for label in PRIOR_ANGLES], axis=-1)

    def stack_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Per particle: its stack file and its 0-based particle index in that stack (p of g·P + p;
        the first rows are those of group 0)."""
        indices, files = parse_image_names(np.asarray(self.table["rlnImageName"])[self.first_rows])
        return files, indices


def group_movie_particles(table: Table, pixel_size: float, path: str | Path) -> MovieParticles:
    """Regroup movie-particle rows; InputError when columns are missing or particles lack frames."""
    missing = [label for label in ("rlnImageName", "rlnMicrographName", *MOVIE_COLUMNS[:4], *PRIOR_ORIGINS)
               if label not in table]
    if missing:
        raise InputError(path, f"not a movie-particle file (from MovieRefine): missing {', '.join(missing)}")
    names, which = np.unique(np.asarray(table["rlnParticleName"]).astype(str), return_inverse=True)
    numbers = np.unique(np.asarray(table["rlnMovieFrameNumber"], np.int64))
    frame = np.searchsorted(numbers, np.asarray(table["rlnMovieFrameNumber"], np.int64))
    index = np.full((len(names), len(numbers)), -1, dtype=np.int64)
    index[which, frame] = np.arange(len(table))
    if (index < 0).any():
        raise InputError(path, "some particles lack some movie frames: every particle needs the same frames")
    order = np.argsort(index[:, 0], kind="stable")
    group_size = int(np.asarray(table["rlnAverageNrOfFrames"])[0])
    window = int(np.asarray(table["rlnMovieFramesRunningAverage"])[0])
    return MovieParticles(table, index[order], numbers, group_size, window, pixel_size)


__all__ = ["movie_rows", "MovieParticles", "group_movie_particles", "particle_names", "MOVIE_COLUMNS"]
