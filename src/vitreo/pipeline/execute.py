"""Run one job in this process: ``python -m vitreo.pipeline.execute --project DIR Type/jobNNN/``.

This is what the pipeline starts for every job, locally or inside a queue submission
script. It reads job.star, runs the job type's ``run()`` with the project directory as
working directory, writes the exit marker (SUCCESS, FAILURE with the error in run.err,
or ABORTED when ``RELION_JOB_ABORT_NOW`` appeared) and records the new status in the
pipeline. A watcher thread interrupts a job that does not check for abort itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.jobs.context import ABORT_NOW, JobAborted, JobContext
from vitreo.jobs.spec import OutputNode
from vitreo.pipeline.job_star import JOB_STAR, read_job_star
from vitreo.pipeline.job_state import finish_job
from vitreo.pipeline.markers import record_pid, write_exit_marker
from vitreo.pipeline.model import Status
from vitreo.pipeline.project import Project
from vitreo.pipeline.submit import params_from_values, spec_of

EXECUTE_MODULE = "vitreo.pipeline.execute"
_ABORT_POLL_S = 0.5


def execute_command(root: Path, name: str) -> list[str]:
    """The command that runs job ``name`` of the project in ``root``."""
    return [sys.executable, "-m", EXECUTE_MODULE, "--project", str(root), name]


def _job_logger(name: str) -> logging.Logger:
    log = logging.getLogger(f"vitreo.job.{name}")
    log.setLevel(logging.INFO)
    log.propagate = False
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    return log


class _AbortWatcher:
    """Interrupts the main thread when ``RELION_JOB_ABORT_NOW`` appears, for jobs that do not check it."""

    def __init__(self, job_dir: Path) -> None:
        self._abort_file = job_dir / ABORT_NOW
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._watch, daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(_ABORT_POLL_S):
            with self._lock:
                if not self._stopped.is_set() and self._abort_file.exists():
                    # a real signal, so that blocking calls (sleep, I/O waits) in the job return too
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                    return


def run_job(project: Project, name: str) -> Status:
    """Run job ``name`` to its end and record the outcome; returns its status."""
    job_dir = Path(name)
    record_pid(job_dir, os.getpid())
    status, new_outputs = _run_guarded(project, name, job_dir)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # from here on an abort request changes nothing
    sys.stdout.flush()
    sys.stderr.flush()
    write_exit_marker(job_dir, status)
    try:
        finish_job(project, name, status, new_outputs)
    except InputError as err:  # lock timeout: the marker still tells the pipeline later
        print(f"vitreo: {err}", file=sys.stderr)
    return status


def _run_guarded(project: Project, name: str, job_dir: Path) -> tuple[Status, Sequence[OutputNode]]:
    """Run the job's ``run()``; every way it can end becomes a status (errors go to run.err)."""
    watcher = _AbortWatcher(job_dir)
    ctx: JobContext | None = None
    try:
        job = read_job_star(job_dir / JOB_STAR)
        process = project.read().process(name)
        if process is None:
            raise ValueError(f"no job {name} in the pipeline")
        spec = spec_of(process)
        params, ignored = params_from_values(spec, job.values)
        log = _job_logger(name)
        if ignored:
            log.info(" ignoring options vitreo does not know: %s", ", ".join(ignored))
        ctx = JobContext(job_dir, params, is_continue=job.is_continue, log=log)
        watcher.start()
        log.info(" Running %s (%s%s)", name, process.type_label, ", continue" if job.is_continue else "")
        new_outputs = spec.run(job_dir, params, ctx) or ()
        watcher.stop()
        ctx.progress.finish()
        _warn_missing_outputs(project, name, log)
        log.info(" Peak memory of the job: %.0f MiB", peak_memory_mib())
        return Status.SUCCEEDED, new_outputs
    except (JobAborted, KeyboardInterrupt):
        print(f"vitreo: job {name} aborted", file=sys.stderr)
        return Status.ABORTED, ()
    except (InputError, ValueError) as err:
        print(f"vitreo: error: {err}", file=sys.stderr)
        return Status.FAILED, ()
    except Exception:  # any crash: the job fails with its traceback in run.err
        traceback.print_exc()
        return Status.FAILED, ()
    finally:
        watcher.stop()
        if ctx is not None:
            ctx.close()  # the job's Dask client and cluster, if it opened one


def peak_memory_mib() -> float:
    """Peak resident memory (MiB) of this process and the children it waited for (ru_maxrss: KiB on
    Linux, bytes on macOS)."""
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return peak / (1024.0**2 if sys.platform == "darwin" else 1024.0)


def _warn_missing_outputs(project: Project, name: str, log: logging.Logger) -> None:
    for node in project.read().outputs_of(name):
        if not Path(node).exists():
            log.info(" WARNING: output node %s does not exist (yet)", node)


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit status 0 on success, 1 on failure, 2 when aborted."""
    parser = argparse.ArgumentParser(prog=f"python -m {EXECUTE_MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=".", help="project directory")
    parser.add_argument("job", help="job name, e.g. Import/job001/")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (nohup, &)
    os.chdir(args.project)
    name = args.job if args.job.endswith("/") else args.job + "/"
    status = run_job(Project("."), name)
    return {Status.SUCCEEDED: 0, Status.FAILED: 1, Status.ABORTED: 2}[status]


if __name__ == "__main__":
    sys.exit(main())
