"""note.txt: the user's notes on a job and the commands that ran it, with dates.

Each execution appends, as RELION does::

     ++++ Executing new job on Fri Aug 30 00:18:59 2024
     ++++ with the following command(s):
    vitreo run Import --fn_in_raw 'Movies/*.tiff'
     ++++
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

NOTE_FILE = "note.txt"


def append_execution(job_dir: Path, commands: Sequence[str], when: float | None = None) -> None:
    """Record an execution of the job and its command(s)."""
    stamp = time.ctime(time.time() if when is None else when)
    lines = [f"\n ++++ Executing new job on {stamp}\n", " ++++ with the following command(s): \n",
             *(f"{command}\n" for command in commands), " ++++ \n"]
    with open(job_dir / NOTE_FILE, "a", encoding="utf-8") as fh:
        fh.writelines(lines)


def append_text(job_dir: Path, text: str) -> None:
    """Add the user's own note text."""
    with open(job_dir / NOTE_FILE, "a", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


def read_note(job_dir: Path) -> str:
    """The whole note ('' when there is none)."""
    path = job_dir / NOTE_FILE
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


__all__ = ["NOTE_FILE", "append_execution", "append_text", "read_note"]
