"""Projects for the MotionCorr and CtfFind job tests: the tiny movies imported, jobs run in-process."""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
from pathlib import Path

from tests.preprocess.datasets import TINY_BFACTOR, tiny_movies
from vitreo.jobs.context import JobContext
from vitreo.jobs.registry import find_spec

MOVIES = "Import/job001/movies.star"


def run_job(kind: str, job: str, values: dict[str, str], is_continue: bool = False, client: object = None) -> Path:
    """Run a job type in the current directory (the project) and return its directory; with a Dask
    ``client``, on its workers."""
    spec = find_spec(kind)
    params = spec.params(values)
    spec.validate(params)
    job_dir = Path(job)
    job_dir.mkdir(parents=True, exist_ok=True)
    with JobContext(job_dir, params, is_continue=is_continue, log=logging.getLogger("test"), dask_client=client) as ctx:
        spec.run(job_dir, params, ctx)
    return job_dir


def motioncorr(job: str, is_continue: bool = False, **values: str) -> Path:
    """MotionCorr on the imported tiny movies with a B-factor suited to their 4.5 Å pixels."""
    options = {"input_star_mics": MOVIES, "bfactor": str(TINY_BFACTOR), "nr_threads": "2", **values}
    return run_job("MotionCorr", job, options, is_continue=is_continue)


def make_project(root: Path) -> Path:
    """A project (made in ``root``) with the tiny movies imported (4.5 Å, 300 kV, Cs 2 mm, Q 0.1)."""
    os.environ.setdefault("VITREO_IMPORT_PROBE_SECONDS", "0")
    root.mkdir(parents=True, exist_ok=True)
    os.symlink(tiny_movies().root / "Micrographs", root / "Micrographs")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        run_job("Import", "Import/job001", {"fn_in_raw": "Micrographs/*.mrcs", "angpix": "4.5", "kV": "300",
                                            "Cs": "2.0", "Q0": "0.1"})
    finally:
        os.chdir(cwd)
    return root


@functools.cache
def corrected_project() -> Path:
    """A project with the tiny movies imported and motion-corrected in MotionCorr/job002 (5 × 5 patches,
    float16, non-dose-weighted sums and power spectra saved), shared by the job tests."""
    folder = Path(tempfile.mkdtemp(prefix="vitreo-project-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    root = make_project(folder / "project")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        motioncorr("MotionCorr/job002", do_save_noDW="Yes")
    finally:
        os.chdir(cwd)
    return root
