"""What a running job gets besides its parameters: ``JobContext``.

A job's ``run(job_dir, params, ctx)`` runs with the project directory as working
directory (all file names in parameters and STAR files are relative to it). It logs
with ``ctx.log`` (run.out under the pipeline), reports progress with ``ctx.progress``,
computes on ``ctx.backend`` (devices and threads from the job's ``gpu_ids``/``use_gpu``/
``nr_threads`` options), and calls ``ctx.check_abort()`` between work items so that
``vitreo job abort`` (the ``RELION_JOB_ABORT_NOW`` file) stops it promptly.

Parallel work goes through ``ctx.executor`` (map a function over micrographs or movies) and
``ctx.client()`` (the Dask client of the ML jobs' E-steps), both chosen from the job's options:
``dask``/``dask_cluster``/``dask_config`` (see :mod:`vitreo.em.dask_cluster`), else ``nr_mpi``
processes on this machine. A client given as ``dask_client`` is used as it is; one opened here
is closed by ``ctx.close()`` (or at the end of a ``with JobContext(...)`` block).
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vitreo.jobs.options import Params
from vitreo.jobs.progress import ProgressReporter

if TYPE_CHECKING:
    from vitreo.em.backend import Backend
    from vitreo.em.dask_cluster import DaskRequest
    from vitreo.em.parallel import ItemExecutor

ABORT_NOW = "RELION_JOB_ABORT_NOW"


class JobAborted(Exception):
    """Raised inside a job when the user asked it to stop."""


@dataclass
class JobContext:
    """Services for one run of one job (see the module docstring)."""

    job_dir: Path
    params: Params
    is_continue: bool = False
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("vitreo.job"))
    progress: ProgressReporter | None = None
    dask_client: Any = None
    _backend: Backend | None = field(default=None, repr=False)
    _opened: ExitStack = field(default_factory=ExitStack, repr=False)
    _client: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.progress is None:
            self.progress = ProgressReporter(self.job_dir, self.log)

    @property
    def threads(self) -> int:
        """CPU threads asked for (the ``nr_threads`` option; 1 when the job has none)."""
        return self.params.integer("nr_threads") if "nr_threads" in self.params else 1

    @property
    def gpu(self) -> str | None:
        """The RELION ``--gpu`` device list, or None for CPU."""
        if "use_gpu" in self.params and not self.params.flag("use_gpu"):
            return None
        return self.params.text("gpu_ids") if "gpu_ids" in self.params else None

    @property
    def backend(self) -> Backend:
        """Devices, threads and dtype for the numerics (built on first use; imports torch)."""
        if self._backend is None:
            from vitreo.em.backend import Backend

            self._backend = Backend.from_options(gpu=self.gpu, threads=self.threads)
            self._backend.activate()
        return self._backend

    @property
    def workers(self) -> int:
        """Worker processes asked for (the ``nr_mpi`` option; 1 when the job has none)."""
        return max(1, self.params.integer("nr_mpi")) if "nr_mpi" in self.params else 1

    def dask_request(self, mpi_as_local: bool = False) -> DaskRequest | None:
        """The Dask workers the options ask for, or None; with ``mpi_as_local``, nr_mpi > 1 alone
        asks for a LocalCluster of nr_mpi workers."""
        from vitreo.em.dask_cluster import DaskRequest

        def option(name: str) -> str:
            return self.params.text(name) if name in self.params else ""

        request = DaskRequest(option("dask"), option("dask_cluster"), option("dask_config"), self.workers, self.threads)
        if request.wanted:
            return request
        return DaskRequest("local", workers=self.workers, threads=self.threads) if mpi_as_local and self.workers > 1 else None

    def client(self, mpi_as_local: bool = False) -> Any:
        """The job's Dask client (opened on first use, see the module docstring), or None when the
        options ask for none. With ``mpi_as_local`` (the ML jobs: nr_mpi > 1 means a LocalCluster),
        a missing Dask installation is a warning and the job runs in this process."""
        opened = self.dask_client if self.dask_client is not None else self._client
        if opened is not None:
            return opened
        request = self.dask_request(mpi_as_local)
        if request is None:
            return None
        from vitreo.em.dask_cluster import dask_client, import_dask

        if not request.wanted:  # asked for by nr_mpi alone
            try:
                import_dask()
            except ValueError as err:
                self.log.warning(" WARNING: nr_mpi %d runs in one process here: %s", self.workers, err)
                return None
        self._client = self._opened.enter_context(dask_client(request))
        return self._client

    @property
    def executor(self) -> ItemExecutor:
        """Maps a function over work items on the job's workers: Dask's, else nr_mpi processes here."""
        from vitreo.em.parallel import DaskPool, ProcessPool

        client = self.client()
        if client is not None:
            return DaskPool(client, self.threads)
        return ProcessPool(self.workers, self.threads if "nr_threads" in self.params else None)

    def close(self) -> None:
        """Close what the job opened (a Dask client and the cluster started for it)."""
        self._opened.close()
        self._client = None

    def __enter__(self) -> JobContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def abort_requested(self) -> bool:
        """True once ``RELION_JOB_ABORT_NOW`` exists in the job directory."""
        return (self.job_dir / ABORT_NOW).exists()

    def check_abort(self) -> None:
        """Raise ``JobAborted`` if the user asked the job to stop."""
        if self.abort_requested():
            raise JobAborted(f"{self.job_dir}: aborted on request ({ABORT_NOW})")


__all__ = ["ABORT_NOW", "JobAborted", "JobContext"]
