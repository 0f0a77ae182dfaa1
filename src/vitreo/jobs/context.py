"""What a running job gets besides its parameters: ``JobContext``.

A job's ``run(job_dir, params, ctx)`` runs with the project directory as working
directory (all file names in parameters and STAR files are relative to it). It logs
with ``ctx.log`` (run.out under the pipeline), reports progress with ``ctx.progress``,
computes on ``ctx.backend`` (devices and threads from the job's ``gpu_ids``/``use_gpu``/
``nr_threads`` options), and calls ``ctx.check_abort()`` between work items so that
``vitreo job abort`` (the ``RELION_JOB_ABORT_NOW`` file) stops it promptly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vitreo.jobs.options import Params
from vitreo.jobs.progress import ProgressReporter

if TYPE_CHECKING:
    from vitreo.em.backend import Backend

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

    def abort_requested(self) -> bool:
        """True once ``RELION_JOB_ABORT_NOW`` exists in the job directory."""
        return (self.job_dir / ABORT_NOW).exists()

    def check_abort(self) -> None:
        """Raise ``JobAborted`` if the user asked the job to stop."""
        if self.abort_requested():
            raise JobAborted(f"{self.job_dir}: aborted on request ({ABORT_NOW})")


__all__ = ["ABORT_NOW", "JobAborted", "JobContext"]
