"""The project lock that guards default_pipeline.star, compatible with RELION's.

RELION locks by creating the directory ``.relion_lock`` (atomic ``mkdir``) and writing
the holder's message to ``.relion_lock/lock_default_pipeline.star``; it waits up to two
minutes for another holder. vitreo takes the same lock, so RELION and vitreo can share
a project, and adds:

- an ``fcntl`` lock on ``.relion_lock.flock`` taken first, which the kernel releases
  when its holder dies, so vitreo processes queue fairly and only one of them ever
  inspects or recovers a stale ``.relion_lock``;
- the holder's pid and host in the lock message, so a lock left by a dead vitreo
  process on this host is recognised as stale and removed. A lock without a pid (from
  RELION) is waited for.

The wait ends after ``timeout`` seconds (VITREO_LOCK_TIMEOUT, default 120) with an
error that names the lock file and its holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from vitreo.io.errors import InputError

LOCK_DIR = ".relion_lock"
LOCK_FILE = "lock_default_pipeline.star"
FLOCK_FILE = ".relion_lock.flock"
DEFAULT_TIMEOUT_S = 120.0
_EMPTY_LOCK_GRACE_S = 5.0
_HOLDER = re.compile(r"vitreo pid (\d+) on host (\S+)")


def lock_timeout() -> float:
    """Seconds to wait for the lock (VITREO_LOCK_TIMEOUT or 120)."""
    try:
        return float(os.environ.get("VITREO_LOCK_TIMEOUT", DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_text(root: Path) -> str:
    """The message in the lock file, or '' when there is none."""
    try:
        return (root / LOCK_DIR / LOCK_FILE).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _is_stale(root: Path) -> bool:
    """True for a lock left behind by a dead vitreo process on this host, or an empty
    lock directory older than a few seconds (its creator died before writing to it)."""
    text = holder_text(root)
    match = _HOLDER.search(text)
    if match:
        return match.group(2) == socket.gethostname() and not pid_alive(int(match.group(1)))
    if text:
        return False
    try:
        return time.time() - (root / LOCK_DIR).stat().st_mtime > _EMPTY_LOCK_GRACE_S
    except FileNotFoundError:
        return False


def _timeout_error(root: Path, waited: float) -> InputError:
    holder = holder_text(root).replace("\n", "; ") or "no holder message"
    return InputError(root / LOCK_DIR / LOCK_FILE,
                      f"project is locked ({holder}); waited {waited:.0f} s. If no vitreo or RELION process "
                      f"is working on this project, remove {LOCK_DIR}")


@contextlib.contextmanager
def _kernel_lock(root: Path, deadline: float, started: float) -> Iterator[None]:
    fd = os.open(root / FLOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _timeout_error(root, time.monotonic() - started) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextlib.contextmanager
def project_lock(root: str | os.PathLike[str], action: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the project lock while the body runs; ``action`` is recorded for others to see."""
    root = Path(root)
    started = time.monotonic()
    deadline = started + (lock_timeout() if timeout is None else timeout)
    with _kernel_lock(root, deadline, started):
        lock_dir = root / LOCK_DIR
        while True:
            try:
                lock_dir.mkdir()
                break
            except FileExistsError:
                if _is_stale(root):
                    shutil.rmtree(lock_dir, ignore_errors=True)
                    continue
                if time.monotonic() > deadline:
                    raise _timeout_error(root, time.monotonic() - started) from None
                time.sleep(0.2)
        try:
            stamp = datetime.now().isoformat(timespec="seconds")
            message = f"{action}\nvitreo pid {os.getpid()} on host {socket.gethostname()} since {stamp}\n"
            (lock_dir / LOCK_FILE).write_text(message, encoding="utf-8")
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                (lock_dir / LOCK_FILE).unlink()
            with contextlib.suppress(OSError):
                lock_dir.rmdir()


__all__ = ["LOCK_DIR", "LOCK_FILE", "FLOCK_FILE", "project_lock", "pid_alive", "holder_text", "lock_timeout"]
