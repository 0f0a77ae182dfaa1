"""Shared test fixtures. Real data lives in ../shared/data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("VITREO_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder ../shared/data; tests that use it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def dask_client():
    """A LocalCluster of 2 worker processes of 1 thread each (as ``--dask local:2 --j 1``); skips
    without dask.distributed."""
    distributed = pytest.importorskip("distributed")
    from vitreo.em.dask_cluster import local_cluster

    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        yield client
