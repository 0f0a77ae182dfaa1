"""Start jobs and autorun from the GUI with the pipeline's own functions, never through a shell.

A job runs in its own session (``start_job(..., background=True)``), so stopping the GUI
never stops it; a daemon thread waits for the child so that a job killed without an exit
marker is still recorded as Failed (``wait_for_job``). Autorun runs as its own process,
``python -m vitreo autorun ...``, as RELION's GUI starts relion_pipeliner.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

from vitreo.jobs.spec import JobSpec
from vitreo.pipeline.launch import start_job, wait_for_job
from vitreo.pipeline.model import Status
from vitreo.pipeline.project import Project
from vitreo.pipeline.submit import JobRun, continue_job, create_job

AUTORUN_NAME = "autorun"


def cli_words(spec: JobSpec, values: Mapping[str, str], alias: str | None) -> list[str]:
    """The `vitreo run` arguments that make this job: only values that differ from the defaults."""
    defaults = spec.defaults()
    changed = [word for name, value in values.items() if value != defaults.get(name)
               for word in (f"--{name}", value)]
    return [spec.directory, *(["--alias", alias] if alias else []), *changed]


def run_command(spec: JobSpec, values: Mapping[str, str], alias: str | None) -> str:
    """The `vitreo run` command line that makes this job (recorded in its note.txt)."""
    return shlex.join(["vitreo", "run", *cli_words(spec, values, alias)])


def run_new(project: Project, spec: JobSpec, values: Mapping[str, str], alias: str | None,
            schedule: bool) -> JobRun:
    """Create a job (Scheduled, or Running and started in the background)."""
    params = spec.params(dict(values))
    run = create_job(project, spec, params, alias=alias or None, schedule=schedule)
    if not schedule:
        launch(project, run, run_command(spec, params, alias))
    return run


def continue_now(project: Project, reference: str, changes: Mapping[str, str]) -> JobRun:
    """Continue a finished job with allowed changes, in the background."""
    run = continue_job(project, reference, changes)
    words = [word for name, value in changes.items() for word in (f"--{name}", value)]
    launch(project, run, shlex.join(["vitreo", "job", "continue", run.name, *words]))
    return run


def launch(project: Project, run: JobRun, command: str) -> None:
    """Start a Running job in its own session and reap it in a daemon thread."""
    child = start_job(project, run, [command], background=True)
    if child is not None:
        threading.Thread(target=wait_for_job, args=(project, run.name, child), daemon=True,
                         name=f"wait {run.name}").start()


def run_and_wait(project: Project, run: JobRun, command: str) -> Status:
    """Start a Running job in its own session and wait for its end (a quick job the page waits on)."""
    return wait_for_job(project, run.name, start_job(project, run, [command], background=True))


def start_autorun(project: Project, jobs: Sequence[str], repeat: int, wait_minutes: float) -> int:
    """Start ``vitreo autorun`` as a detached process; returns its pid."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    if wait_minutes < 0:
        raise ValueError("wait must not be negative")
    if autorun_running(project):
        raise ValueError(f"an autorun is already running (remove RUNNING_PIPELINER_{AUTORUN_NAME} to stop it)")
    pipeline = project.read()
    names = [project.resolve(pipeline, job).name for job in jobs]
    command = [sys.executable, "-m", "vitreo", "autorun", *names, "--repeat", str(repeat),
               "--wait", f"{wait_minutes:g}", "--name", AUTORUN_NAME, "--project", str(project.root)]
    child = subprocess.Popen(command, cwd=project.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    threading.Thread(target=child.wait, daemon=True, name="wait autorun").start()
    return child.pid


def autorun_running(project: Project) -> bool:
    """True while an autorun's RUNNING_PIPELINER_ file exists."""
    return (project.root / f"RUNNING_PIPELINER_{AUTORUN_NAME}").exists()


def stop_autorun(project: Project) -> bool:
    """Ask the autorun to stop after its current job (as RELION: remove RUNNING_PIPELINER_)."""
    check_file = project.root / f"RUNNING_PIPELINER_{AUTORUN_NAME}"
    existed = check_file.exists()
    check_file.unlink(missing_ok=True)
    return existed


__all__ = ["AUTORUN_NAME", "cli_words", "run_command", "run_new", "continue_now", "launch", "run_and_wait",
           "start_autorun", "autorun_running", "stop_autorun"]
