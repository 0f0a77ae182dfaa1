"""Work on many micrographs in parallel worker processes (RELION runs one MPI rank per process).

``map_unordered(function, items, workers)`` yields ``(index, result)`` as items finish; with one
worker everything runs in this process. Workers are started with "spawn" (safe with torch
threads) and each gets an equal share of the CPU threads. ``function`` and the items must be
picklable (module-level functions or dataclass instances).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, TypeVar

import torch

Item = TypeVar("Item")


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def map_unordered(function: Callable[[Item], Any], items: Sequence[Item], workers: int,
                  threads: int | None = None) -> Iterator[tuple[int, Any]]:
    """(index, function(item)) for every item, in completion order, using up to ``workers`` processes
    with ``threads`` torch threads each (default: the CPUs shared equally)."""
    workers = max(1, min(workers, len(items)))
    if workers == 1:
        for index, item in enumerate(items):
            yield index, function(item)
        return
    per_worker = threads or max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(per_worker,)) as pool:
        pending = {pool.submit(function, item): index for index, item in enumerate(items)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


__all__ = ["map_unordered"]
