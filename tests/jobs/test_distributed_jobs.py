"""MotionCorr, CtfFind and Extract on 2 Dask workers give the outputs of one process (issue 14),
and the ML jobs' E-steps follow the job's Dask options.

Each job maps its micrographs (or movies) over the workers; every item is computed exactly as in
one process, so outputs agree to float32 rounding (measured: identical). Tolerances: images to
1e-5 of their largest value, fitted and measured numbers to 1e-6 relative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.picking.datasets import project_copy, tiny_dataset, true_centres
from tests.preprocess.datasets import TINY_BFACTOR
from tests.preprocess.projects import MOVIES, corrected_project, run_job
from vitreo.io.coords import write_coordinates
from vitreo.io.image_refs import read_images
from vitreo.io.mrc import read_mrc
from vitreo.io.star import Table, read_star
from vitreo.jobs.context import JobContext
from vitreo.jobs.ml_options import compute_settings, estep_workers
from vitreo.jobs.registry import find_spec
from vitreo.ml.distributed import active_workers
from vitreo.picking.coordinate_sets import write_coordinate_index

IMAGE_TOLERANCE = 1e-5  # of the largest absolute value
NUMBER_TOLERANCE = 1e-6  # relative


def assert_same_images(found: np.ndarray, expected: np.ndarray) -> None:
    assert found.shape == expected.shape
    scale = float(np.abs(expected.astype(np.float64)).max())
    assert float(np.abs(found.astype(np.float64) - expected).max()) <= IMAGE_TOLERANCE * scale


def assert_same_columns(found: Table, expected: Table, labels: list[str]) -> None:
    for label in labels:
        np.testing.assert_allclose(found[label], expected[label], rtol=NUMBER_TOLERANCE, err_msg=label)


@pytest.fixture
def corrected(monkeypatch: pytest.MonkeyPatch) -> Path:
    project = corrected_project()
    monkeypatch.chdir(project)
    return project


def test_motioncorr_on_two_workers_equals_one_process(corrected: Path, dask_client) -> None:  # type: ignore[no-untyped-def]
    """Against MotionCorr/job002 of the shared project (same options, one process)."""
    values = {"input_star_mics": MOVIES, "bfactor": str(TINY_BFACTOR), "nr_threads": "2", "do_save_noDW": "Yes"}
    job = run_job("MotionCorr", "MotionCorr/job020", values, client=dask_client)
    found = read_star(job / "corrected_micrographs.star")["micrographs"]
    expected = read_star("MotionCorr/job002/corrected_micrographs.star")["micrographs"]
    assert_same_columns(found, expected, ["rlnAccumMotionTotal", "rlnAccumMotionEarly", "rlnAccumMotionLate"])
    for ours, theirs in zip(found["rlnMicrographName"], expected["rlnMicrographName"]):
        assert_same_images(read_mrc(ours)[0], read_mrc(theirs)[0])
        assert_same_images(read_mrc(ours.replace(".mrc", "_noDW.mrc"))[0], read_mrc(theirs.replace(".mrc", "_noDW.mrc"))[0])


def test_ctffind_on_a_local_cluster_equals_one_process(corrected: Path) -> None:
    """Through the job's own option ``--dask local:2`` (a LocalCluster started and closed by the job)."""
    values = {"input_star_mics": "MotionCorr/job002/corrected_micrographs.star", "resmax": "10", "box": "256"}
    one = run_job("CtfFind", "CtfFind/job021", values)
    two = run_job("CtfFind", "CtfFind/job022", {**values, "dask": "local:2"})
    found = read_star(two / "micrographs_ctf.star")["micrographs"]
    expected = read_star(one / "micrographs_ctf.star")["micrographs"]
    assert_same_columns(found, expected, ["rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnCtfFigureOfMerit",
                                          "rlnCtfMaxResolution"])


def test_extract_on_two_workers_equals_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   dask_client) -> None:  # type: ignore[no-untyped-def]
    root = project_copy(tiny_dataset(), tmp_path / "project")
    monkeypatch.chdir(root)
    files = {}
    for name in ("Micrographs/mic001.mrc", "Micrographs/mic002.mrc"):
        xy = np.rint(true_centres(root, name))
        files[name] = name.replace(".mrc", "_pick.star")
        write_coordinates(files[name], Table({"rlnCoordinateX": xy[:, 0], "rlnCoordinateY": xy[:, 1]}))
    write_coordinate_index("picks.star", files)
    values = {"star_mics": "truth/micrographs.star", "coords_suffix": "picks.star", "extract_size": "64"}
    one = run_job("Extract", "Extract/job001", values)
    two = run_job("Extract", "Extract/job002", {**values, "nr_mpi": "2"}, client=dask_client)
    found, expected = (read_star(job / "particles.star")["particles"] for job in (two, one))
    assert len(found) == len(expected) > 0
    assert_same_columns(found, expected, ["rlnCoordinateX", "rlnCoordinateY"])
    assert_same_images(read_images(found["rlnImageName"]), read_images(expected["rlnImageName"]))


def test_ml_estep_workers_follow_the_job_options(tmp_path: Path, dask_client) -> None:  # type: ignore[no-untyped-def]
    spec = find_spec("Class2D")
    params = spec.params({"nr_threads": "2", "use_gpu": "No"})
    with JobContext(tmp_path, params, dask_client=dask_client) as ctx, estep_workers(ctx, compute_settings(params)):
        workers = active_workers()
        assert workers is not None and workers.client is dask_client and workers.threads == 2 and workers.gpu is None
    assert active_workers() is None
    with JobContext(tmp_path, params) as ctx, estep_workers(ctx, compute_settings(params)):
        assert active_workers() is None  # nr_mpi 1 and no Dask options: E-steps in this process
