"""Executors that map a function over work items: the local process pool and Dask workers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.faults import square_or_die_once
from vitreo.em.dask_cluster import DaskRequest, dask_client, jobqueue_cluster, read_dask_config
from vitreo.em.parallel import DaskPool, ProcessPool
from vitreo.io.errors import InputError


def square_root(x: float) -> float:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return math.sqrt(x)


ITEMS = [4.0, -1.0, 9.0, 16.0]


def outcomes(pairs) -> dict[int, object]:  # type: ignore[no-untyped-def]
    return {index: outcome if not isinstance(outcome, BaseException) else str(outcome) for index, outcome in pairs}


EXPECTED = {0: 2.0, 1: "negative: -1.0", 2: 3.0, 3: 4.0}


def test_process_pool_in_this_process_reports_each_item() -> None:
    assert outcomes(ProcessPool(1, 1).map(square_root, ITEMS)) == EXPECTED


def test_dask_pool_gives_the_same_outcomes(dask_client) -> None:  # type: ignore[no-untyped-def]
    pool = DaskPool(dask_client, threads=1)
    assert pool.workers == 2
    assert outcomes(pool.map(square_root, ITEMS)) == EXPECTED


def test_an_item_whose_worker_dies_is_computed_again(dask_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    marker = str(tmp_path / "killed")
    items = [(marker, float(x)) for x in range(4)]
    assert outcomes(DaskPool(dask_client).map(square_or_die_once, items)) == {0: 0.0, 1: 1.0, 2: 4.0, 3: 9.0}
    assert Path(marker).exists()  # one worker died on its first item


def test_requests() -> None:
    assert not DaskRequest().wanted and not DaskRequest(cluster="none").wanted
    assert DaskRequest("local:3").local_workers() == 3
    assert DaskRequest("local", workers=4).local_workers() == 4
    assert DaskRequest("tcp://host:8786").local_workers() is None
    assert DaskRequest(cluster="slurm").wanted
    with pytest.raises(ValueError, match="local:N"):
        DaskRequest("local:x").local_workers()


def test_unreachable_scheduler_is_one_clear_error() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler"):
        with dask_client(DaskRequest("tcp://127.0.0.1:9", workers=1, connect_timeout_s=1.0)):
            pass


def test_queue_cluster_from_a_jobqueue_config_file(tmp_path: Path) -> None:
    """The configuration file reaches the queue job script (nothing is submitted)."""
    pytest.importorskip("dask_jobqueue")
    config = tmp_path / "slurm.yaml"
    config.write_text("jobqueue:\n  slurm:\n    cores: 4\n    memory: 16GB\n    queue: cryoem\n"
                      "    walltime: '02:00:00'\n    account: lab42\n")
    cluster = jobqueue_cluster("slurm", config)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p cryoem" in script and "#SBATCH -A lab42" in script and "#SBATCH -t 02:00:00" in script
    assert "#SBATCH --cpus-per-task=4" in script and "--nworkers 4" in script  # processes: one per core


def test_bad_cluster_requests(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose one of slurm, pbs, sge, lsf"):
        jobqueue_cluster("condor", tmp_path / "x.yaml")
    with pytest.raises(InputError, match="configuration file"):
        read_dask_config("")
    with pytest.raises(InputError, match="cannot read"):
        read_dask_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="YAML mapping"):
        read_dask_config(bad)
    other = tmp_path / "other.yaml"
    other.write_text("jobqueue:\n  slurm:\n    cores: 4\n")
    with pytest.raises(InputError, match="no 'jobqueue: pbs:' section"):
        jobqueue_cluster("pbs", other)
