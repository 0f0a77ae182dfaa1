"""Run a job type's ``run()`` in the current directory (a project), as the pipeline would."""

from __future__ import annotations

import logging
from pathlib import Path

from vitreo.jobs.context import JobContext
from vitreo.jobs.progress import ProgressReporter
from vitreo.jobs.spec import JobSpec


def run_job(spec: JobSpec, values: dict[str, str], job: str, is_continue: bool = False,
            log: logging.Logger | None = None) -> Path:
    """Validate ``values`` and run the job in ``job`` (created); returns the job directory."""
    params = spec.params(values)
    spec.validate(params)
    job_dir = Path(job)
    job_dir.mkdir(parents=True, exist_ok=True)
    log = log or logging.getLogger(f"vitreo.test.{spec.directory}")
    progress = ProgressReporter(job_dir, log, terminal=False)
    spec.run(job_dir, params, JobContext(job_dir, params, is_continue=is_continue, log=log, progress=progress))
    return job_dir
