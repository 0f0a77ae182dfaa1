"""Dask connections for parallel and distributed jobs: a running scheduler, a LocalCluster, or
queue jobs through dask-jobqueue.

A :class:`DaskRequest` holds a job's options: ``address`` (``--dask``) is ``""`` for no Dask,
``local`` or ``local:N`` for a LocalCluster of N worker processes (default: ``workers``, the
job's nr_mpi), or a scheduler address (``tcp://host:8786``, ``host:8786``); ``cluster``
(``--dask-cluster``) is none, slurm, pbs, sge or lsf, with ``config`` (``--dask-config``) a YAML file
in dask-jobqueue's own format (``jobqueue: {slurm: {cores: 8, memory: 32GB, queue: ...}}``);
``workers`` queue workers are then started. Each worker runs one task at a time, with
``threads`` torch threads. dask is imported only here and only when asked for; without it the
error says what to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from vitreo.io.errors import InputError

#: dask-jobqueue's cluster class of each ``--dask-cluster`` kind.
CLUSTER_CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}
NO_CLUSTER = "none"
INSTALL_HINT = "pip install 'vitreo[cluster]'"


@dataclass(frozen=True)
class DaskRequest:
    """Where a job's Dask workers come from (see the module docstring)."""

    address: str = ""
    cluster: str = ""
    config: str = ""
    workers: int = 1
    threads: int = 1
    connect_timeout_s: float = 30.0  # for a scheduler address

    @property
    def wanted(self) -> bool:
        """Whether the job asked for Dask at all."""
        return bool(self.address.strip() or self.queue_cluster)

    @property
    def queue_cluster(self) -> bool:
        """Whether queue workers (dask-jobqueue) are asked for."""
        return self.cluster.strip().lower() not in ("", NO_CLUSTER)

    def local_workers(self) -> int | None:
        """N of ``local:N`` (``local`` alone: ``workers``), or None when no LocalCluster is asked for."""
        text = self.address.strip()
        if text != "local" and not text.startswith("local:"):
            return None
        count = text.partition(":")[2] or str(self.workers)
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--dask {text!r}: give local:N with N a number of workers of at least 1")
        return int(count)


def import_dask(module: str = "distributed") -> ModuleType:
    """Import a Dask module, or raise ValueError with one line saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = "dask-jobqueue" if module == "dask_jobqueue" else "dask[distributed]"
        raise ValueError(f"Dask is not installed ({package} is needed for --dask and --dask-cluster): "
                         f"{INSTALL_HINT}") from None


@contextmanager
def dask_client(request: DaskRequest) -> Iterator[Any]:
    """A ``distributed.Client`` for the request, with at least one worker; a cluster started here
    is closed when the block ends."""
    distributed = import_dask()
    cluster: Any = None
    if request.queue_cluster:
        cluster = jobqueue_cluster(request.cluster, request.config)
        cluster.scale(n=max(1, request.workers))
        client = distributed.Client(cluster)
    elif (count := request.local_workers()) is not None:
        cluster = local_cluster(count)
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(request.address.strip(), timeout=f"{request.connect_timeout_s}s")
        except OSError as err:
            raise ValueError(f"cannot reach the Dask scheduler at {request.address.strip()!r}: {err}") from None
    try:
        client.wait_for_workers(1)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` processes running one task at a time, without
    dashboards. Its workers keep glibc's adaptive malloc: Dask's default MALLOC_TRIM_THRESHOLD_
    (which also fixes the mmap threshold) made the E-step's large temporaries cost 40% more CPU."""
    distributed = import_dask()
    dask = import_dask("dask")
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, worker_dashboard_address=None)


def jobqueue_cluster(kind: str, config: str | Path) -> Any:
    """A dask-jobqueue cluster of ``kind`` (slurm, pbs, sge, lsf) with the settings of the YAML file
    ``config`` (its ``jobqueue: {kind: ...}`` section; dask's own configuration gives the others);
    no workers are started yet."""
    name = kind.strip().lower()
    if name not in CLUSTER_CLASSES:
        raise ValueError(f"--dask-cluster {kind!r}: choose one of {', '.join(CLUSTER_CLASSES)}")
    section = read_dask_config(config).get("jobqueue", {})
    options = section.get(name) if isinstance(section, dict) else None
    if not isinstance(options, dict):
        raise InputError(config, f"has no 'jobqueue: {name}:' section of cluster settings")
    jobqueue = import_dask("dask_jobqueue")
    keywords = {key.replace("-", "_"): value for key, value in options.items()}  # YAML keys are the class's arguments
    try:
        return getattr(jobqueue, CLUSTER_CLASSES[name])(**keywords)
    except (TypeError, ValueError) as err:
        raise InputError(config, f"dask-jobqueue refused the {name} settings: {str(err).splitlines()[0]}") from None


def read_dask_config(path: str | Path) -> dict[str, Any]:
    """The YAML mapping of a Dask configuration file; InputError if it is missing or not a mapping."""
    if not str(path).strip():
        raise InputError(None, "--dask-cluster needs a configuration file (--dask-config FILE, dask-jobqueue's YAML)")
    yaml = import_dask("yaml")
    try:
        settings = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(path, f"cannot read the Dask configuration: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise InputError(path, f"is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(settings, dict):
        raise InputError(path, "a Dask configuration must be a YAML mapping (jobqueue: {slurm: {...}})")
    return settings


__all__ = ["CLUSTER_CLASSES", "NO_CLUSTER", "DaskRequest", "import_dask", "dask_client", "local_cluster", "jobqueue_cluster", "read_dask_config"]
