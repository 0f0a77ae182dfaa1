"""Simulated datasets for the picking tests, made once per test session.

``tiny_dataset()`` is the ``tiny`` preset as micrographs (2 × 512² px at 4.5 Å/px, 40 particles,
carbon on one micrograph); ``junk_dataset()`` the same with many junk objects (for sorting).
Both live in one temporary folder removed when the session ends; tests copy what they modify.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

from vitreo.io.star import read_star
from vitreo.simulate import preset, simulate_dataset

DIAMETER = 200.0  # Å, about the simulated β-galactosidase's diameter


@cache
def _root() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="vitreo-picking-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@cache
def tiny_dataset() -> Path:
    """The tiny preset as micrographs (read only)."""
    return simulate_dataset(_root() / "tiny", preset("tiny", micrographs_only=True)).root


@cache
def junk_dataset() -> Path:
    """The tiny preset with junk at 40 % of the particles (read only)."""
    return simulate_dataset(_root() / "junk", preset("tiny", micrographs_only=True, junk_fraction=0.4)).root


def project_copy(source: Path, destination: Path) -> Path:
    """A writable copy of a dataset folder to use as a project directory."""
    shutil.copytree(source, destination, dirs_exist_ok=True)
    return destination


def true_centres(root: Path, micrograph: str, junk: bool | None = False) -> np.ndarray:
    """(n, 2) true particle centres (pixels) on ``micrograph``: particles, junk, or both (None)."""
    blocks = read_star(root / "truth" / "particles.star")
    table, pixel = blocks["particles"], float(blocks["optics"]["rlnImagePixelSize"][0])
    rows = table["rlnMicrographName"] == micrograph
    if junk is not None:
        rows &= table["rlnVitreoIsJunk"] == int(junk)
    return np.stack([table["rlnCoordinateX"][rows] - table["rlnOriginXAngst"][rows] / pixel,
                     table["rlnCoordinateY"][rows] - table["rlnOriginYAngst"][rows] / pixel], 1)
