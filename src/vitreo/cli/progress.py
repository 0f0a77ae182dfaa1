"""A progress bar for long commands: rich on a terminal, a few plain lines otherwise (logs, CI)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@contextlib.contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_done)``; shows a bar on stderr, or lines at each 25% when not a TTY."""
    if sys.stderr.isatty():
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda done: progress.update(task, completed=done)
        return
    reported = [-1]

    def advance(done: int) -> None:
        quarter = 4 * done // max(total, 1)
        if quarter > reported[0]:
            reported[0] = quarter
            sys.stderr.write(f"{description}: {done}/{total}\n")

    yield advance
