"""A job's run.out / run.err read from a byte offset, for live updates in the browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STREAMS = {"out": "run.out", "err": "run.err"}
MAX_CHUNK = 256 * 1024


def read_log(job_dir: Path, stream: str, offset: int) -> dict[str, Any]:
    """Text appended since ``offset`` (bytes; negative: the last -offset bytes), and the new offset.

    When the file has shrunk (a new run truncated it) reading starts again from 0 and
    ``reset`` is true. At most ``MAX_CHUNK`` bytes come back; ``more`` says there is more.
    """
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {', '.join(STREAMS)}, not {stream!r}")
    path = job_dir / STREAMS[stream]
    size = path.stat().st_size if path.exists() else 0
    reset = offset > size
    start = max(size + offset, 0) if offset < 0 else (0 if reset else offset)
    end = min(size, start + MAX_CHUNK)
    data = b""
    if end > start:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start)
    return {"text": data.decode("utf-8", errors="replace"), "start": start, "offset": start + len(data),
            "size": size, "reset": reset, "more": start + len(data) < size}


__all__ = ["STREAMS", "MAX_CHUNK", "read_log"]
