"""Set-up shared by the picking benchmarks (bench_autopick, bench_extract): a simulated dataset
of micrographs (or one given with ``--data``) in a scratch folder, removed afterwards, and its truth."""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vitreo.io.optics import with_optics
from vitreo.io.star import read_star
from vitreo.simulate import preset, simulate_dataset


@contextmanager
def scratch_dataset(preset_name: str, data: Path | None, prefix: str) -> Iterator[tuple[Path, Path]]:
    """(scratch folder, dataset root): ``data`` or a new micrographs-only dataset of the preset.
    On leaving, the working directory goes back to / and the scratch folder is removed."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        root = data or simulate_dataset(scratch / "data", preset(preset_name, micrographs_only=True)).root
        yield scratch, Path(root)
    finally:
        os.chdir("/")
        shutil.rmtree(scratch, ignore_errors=True)


def truth_particles(root: Path) -> tuple[dict, float]:
    """The truth particles' columns (optics joined) and their pixel size (Å)."""
    blocks = read_star(Path(root) / "truth" / "particles.star")
    return with_optics(blocks["particles"], blocks["optics"]), float(blocks["optics"]["rlnImagePixelSize"][0])


def peak_rss_mb() -> float:
    """This process's peak resident memory (MiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
