"""Progress of a running job: a rich bar in a terminal, a JSON file the GUI polls.

The file ``progress.json`` in the job directory holds ``{"task", "done", "total",
"fraction", "updated"}`` and is rewritten atomically at most a few times per second.
Without a terminal (a job under the pipeline writes to run.out) progress is also logged
every 10 %.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from vitreo.io.atomic import write_text_atomic

PROGRESS_FILE = "progress.json"
_MIN_INTERVAL_S = 0.25


class ProgressReporter:
    """Reports ``done`` out of ``total`` work items for one task at a time."""

    def __init__(self, job_dir: Path | None, log: logging.Logger, terminal: bool | None = None) -> None:
        self.path = None if job_dir is None else Path(job_dir) / PROGRESS_FILE
        self.log = log
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.task = ""
        self.total = 0
        self.done = 0
        self._written_at = 0.0
        self._logged_tenth = -1
        self._bar: Any = None
        self._bar_task: Any = None

    def start(self, task: str, total: int) -> None:
        """Begin a task of ``total`` items."""
        self.finish()
        self.task, self.total, self.done = task, max(int(total), 0), 0
        self._logged_tenth = -1
        if self.terminal:
            from rich.progress import Progress

            self._bar = Progress(transient=False)
            self._bar.start()
            self._bar_task = self._bar.add_task(task, total=self.total or None)
        self._write(force=True)

    def advance(self, count: int = 1) -> None:
        """Mark ``count`` more items as done."""
        self.done += count
        if self._bar is not None:
            self._bar.update(self._bar_task, completed=self.done)
        tenth = int(10 * self.done / self.total) if self.total else 0
        if not self.terminal and tenth > self._logged_tenth:
            self._logged_tenth = tenth
            self.log.info(" %s: %d/%d", self.task, self.done, self.total)
        self._write(force=self.done >= self.total)

    def finish(self) -> None:
        """End the current task (stops the terminal bar)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self.task:
            self._write(force=True)

    def _write(self, force: bool) -> None:
        now = time.time()
        if self.path is None or (not force and now - self._written_at < _MIN_INTERVAL_S):
            return
        self._written_at = now
        fraction = self.done / self.total if self.total else 0.0
        state = {"task": self.task, "done": self.done, "total": self.total,
                 "fraction": round(min(fraction, 1.0), 4), "updated": now}
        write_text_atomic(self.path, json.dumps(state) + "\n")


def read_progress(job_dir: Path) -> dict[str, Any] | None:
    """The last progress state written by a job, or None."""
    path = Path(job_dir) / PROGRESS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


__all__ = ["PROGRESS_FILE", "ProgressReporter", "read_progress"]
