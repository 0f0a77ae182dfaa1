"""Start a job that is in the pipeline as Running, and wait for it to end.

Locally the job runs in a child process (``execute``) whose output goes to run.out and
run.err in the job directory; in the background it gets its own session, so closing
the terminal (or the GUI) does not stop it. With ``do_queue`` the job is submitted
through the queue template instead, and its end is seen from its exit marker.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Sequence

from vitreo.pipeline.execute import execute_command
from vitreo.pipeline.job_state import refresh_statuses, report_lost_job
from vitreo.pipeline.markers import exit_status, record_pid
from vitreo.pipeline.model import Status
from vitreo.pipeline.notes import append_execution
from vitreo.pipeline.project import Project
from vitreo.pipeline.queue import submit
from vitreo.pipeline.submit import JobRun

_POLL_S = 0.5


def start_job(project: Project, run: JobRun, commands: Sequence[str] = (),
              background: bool = False) -> subprocess.Popen[bytes] | None:
    """Start a Running job; returns its child process (None when submitted to a queue)."""
    job_dir = project.path(run.name)
    command = execute_command(project.root, run.name)
    append_execution(job_dir, [*commands, shlex.join(command)])
    if run.params.flag("do_queue"):
        try:
            output = submit(project.root, run.name, command, run.params)
        except (ValueError, OSError) as err:
            report_lost_job(project, run.name, f"submission failed: {err}")
            raise
        with open(job_dir / "run.out", "a", encoding="utf-8") as fh:
            fh.write(output)
        return None
    with open(job_dir / "run.out", "ab") as out, open(job_dir / "run.err", "ab") as err:
        child = subprocess.Popen(command, cwd=project.root, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 start_new_session=background)
    record_pid(job_dir, child.pid)
    return child


def wait_for_job(project: Project, name: str, child: subprocess.Popen[bytes] | None,
                 poll_s: float = _POLL_S) -> Status:
    """Wait until the job has ended and its status is recorded; returns the status."""
    job_dir = project.path(name)
    if child is not None:
        try:
            returncode = child.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the job too; let it record its end
            returncode = child.wait()
        process = project.read().process(name)
        if process is not None and process.status is Status.RUNNING:
            report_lost_job(project, name, _describe_exit(returncode))
    else:  # a queued job: its exit marker tells when it has ended
        while True:
            refresh_statuses(project)
            process = project.read().process(name)
            if process is None or process.status is not Status.RUNNING:
                break
            time.sleep(poll_s)
    process = project.read().process(name)
    return process.status if process is not None else (exit_status(job_dir) or Status.FAILED)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"the job's process was killed by signal {-returncode}"
    return f"the job's process ended (exit status {returncode}) without recording its result"


__all__ = ["start_job", "wait_for_job"]
