"""The progress display of `vitreo demo`: one line per stage, and the running job's own progress.

While a stage's job runs, its ``progress.json`` (:mod:`vitreo.jobs.progress`) is polled: on a
terminal a rich bar shows the job's current task; otherwise each new task is printed once, so
logs stay short.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import typer

from vitreo.jobs.progress import read_progress
from vitreo.pipeline.scheme import Stage, StageResult

_POLL_S = 0.5


class StageDisplay:
    """Callbacks for :func:`vitreo.pipeline.scheme.run_scheme` that report a scheme of ``total`` stages."""

    def __init__(self, root: Path, total: int, terminal: bool | None = None) -> None:
        self.root = root
        self.total = total
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def before(self, index: int, stage: Stage) -> None:
        typer.echo(f"[{index + 1}/{self.total}] {stage.title or stage.alias}")

    def started(self, job: str) -> None:
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, args=(self.root / job, job), daemon=True)
        self._watcher.start()

    def after(self, index: int, result: StageResult) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        how = "done earlier, reused" if result.reused else f"done in {result.seconds:.0f} s"
        typer.echo(f"      {result.job} {how}")

    def _watch(self, job_dir: Path, job: str) -> None:
        if self.terminal:
            self._watch_bar(job_dir, job)
            return
        last = ""
        while not self._stop.wait(_POLL_S):
            state = read_progress(job_dir)
            if state and state.get("task") and state["task"] != last:
                last = state["task"]
                typer.echo(f"      {job} {last} ({state.get('total', 0)} items)")

    def _watch_bar(self, job_dir: Path, job: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("      {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task(job, total=None)
            while not self._stop.wait(_POLL_S):
                state = read_progress(job_dir)
                if state:
                    bar.update(task, description=f"{job} {state.get('task', '')}",
                               total=state.get("total") or None, completed=state.get("done", 0))


__all__ = ["StageDisplay"]
