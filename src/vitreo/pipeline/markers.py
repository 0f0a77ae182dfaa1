"""Files in a job directory that tell a job's state, as RELION's pipeline_control does.

A finished job leaves exactly one exit marker: ``RELION_JOB_EXIT_SUCCESS``,
``RELION_JOB_EXIT_FAILURE`` or ``RELION_JOB_EXIT_ABORTED``. ``RELION_JOB_ABORT_NOW``
asks a running job to stop. vitreo also records the running job's process in
``.vitreo_job_pid`` (``pid host``) so a job that died without a marker can be found.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from vitreo.io.atomic import write_text_atomic
from vitreo.jobs.context import ABORT_NOW
from vitreo.pipeline.lock import pid_alive
from vitreo.pipeline.model import Status

EXIT_SUCCESS = "RELION_JOB_EXIT_SUCCESS"
EXIT_FAILURE = "RELION_JOB_EXIT_FAILURE"
EXIT_ABORTED = "RELION_JOB_EXIT_ABORTED"
PID_FILE = ".vitreo_job_pid"
_MARKERS = {Status.SUCCEEDED: EXIT_SUCCESS, Status.FAILED: EXIT_FAILURE, Status.ABORTED: EXIT_ABORTED}


def clear_markers(job_dir: Path) -> None:
    """Remove exit and abort markers left by an earlier run."""
    for name in (*_MARKERS.values(), ABORT_NOW, PID_FILE):
        with contextlib.suppress(FileNotFoundError):
            (job_dir / name).unlink()


def write_exit_marker(job_dir: Path, status: Status) -> None:
    """Leave the exit marker of a finished job (and only that one)."""
    for other in _MARKERS.values():
        with contextlib.suppress(FileNotFoundError):
            (job_dir / other).unlink()
    (job_dir / _MARKERS[status]).touch()
    with contextlib.suppress(FileNotFoundError):
        (job_dir / ABORT_NOW).unlink()


def exit_status(job_dir: Path) -> Status | None:
    """The status an exit marker reports, or None while there is none."""
    for status, name in _MARKERS.items():
        if (job_dir / name).exists():
            return status
    return None


def request_abort(job_dir: Path) -> None:
    """Ask the job to stop (``RELION_JOB_ABORT_NOW``)."""
    (job_dir / ABORT_NOW).touch()


def record_pid(job_dir: Path, pid: int) -> None:
    """Remember which process runs the job."""
    write_text_atomic(job_dir / PID_FILE, f"{pid} {socket.gethostname()}\n")


def job_process_gone(job_dir: Path) -> bool:
    """True when the recorded process of the job ran on this host and no longer exists."""
    try:
        pid_text, host = (job_dir / PID_FILE).read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return False
    return host == socket.gethostname() and not pid_alive(int(pid_text))


__all__ = ["EXIT_SUCCESS", "EXIT_FAILURE", "EXIT_ABORTED", "ABORT_NOW", "PID_FILE", "clear_markers",
           "write_exit_marker", "exit_status", "request_abort", "record_pid", "job_process_gone"]
