"""Streamed particles on a Dask worker of another machine: a scratch copy of its own.

The leader streams images from their stacks, or from its own scratch copy (``scratch_dir``). A
worker that cannot read those files (another machine: the leader's scratch disk is not there)
copies the original stacks of the project (which it must see, on a shared file system) into a
folder of its own under ``scratch_dir``, once per particle set, as RELION's followers copy to
their node's scratch disk. :func:`remove_worker_scratch` deletes the copies (run on every worker
when the job ends).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.image_refs import parse_image_names, resolve
from vitreo.ml.particles import ParticleSet, StreamedImages, copy_to_scratch

#: id of the leader's particle set (as received) -> (that set, its local copy, the copy's folder)
_COPIES: dict[int, tuple[ParticleSet, ParticleSet, Path]] = {}


def local_particles(particles: ParticleSet, scratch_dir: str) -> ParticleSet:
    """``particles`` as this process can read them (see the module docstring)."""
    images = particles.images
    if not isinstance(images, StreamedImages):
        return particles
    unreadable = _first_unreadable(images)
    if unreadable is None:
        return particles
    known = _COPIES.get(id(particles))
    if known is not None and known[0] is particles:
        return known[1]
    if not scratch_dir:
        raise InputError(unreadable, "cannot be read on this Dask worker: put the project on a shared file system, "
                                     "pre-read the particles, or give a scratch directory")
    root = Path(scratch_dir)
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="vitreo_worker_", dir=root))
    names = copy_to_scratch(particles.table.columns["rlnImageName"], images.project_dir, folder)
    copy = replace(particles, images=StreamedImages(names, images.project_dir))
    _COPIES[id(particles)] = (particles, copy, folder)
    return copy


def remove_worker_scratch() -> int:
    """Delete this process's scratch copies; returns how many there were."""
    count = len(_COPIES)
    for _, _, folder in _COPIES.values():
        shutil.rmtree(folder, ignore_errors=True)
    _COPIES.clear()
    return count


def _first_unreadable(images: StreamedImages) -> Path | None:
    """The first stack of ``images`` that does not exist here, or None."""
    _, paths = parse_image_names(images.names)
    for path in np.unique(paths):
        full = resolve(str(path), images.project_dir)
        if not full.is_file():
            return full
    return None


__all__ = ["local_particles", "remove_worker_scratch"]
