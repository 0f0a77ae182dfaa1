"""Run one function over many independent items (movies, micrographs), in worker processes.

``workers`` processes (RELION's MPI ranks) each use ``threads`` torch threads (default: the
CPUs shared equally); with one worker everything runs in this process. Each item's outcome
comes back as soon as it is done, in completion order, as (index, result) or (index,
exception): one bad item never stops the others. Workers are started with ``spawn`` (torch
and ``fork`` do not mix); ``function`` and the items must be picklable (module-level
functions or dataclass instances).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _call(function: Callable[[T], R], item: T) -> R | BaseException:
    try:
        return function(item)
    except Exception as err:  # reported per item by the caller
        return err


def run_items(function: Callable[[T], R], items: Sequence[T], workers: int = 1,
              threads: int | None = None) -> Iterator[tuple[int, R | BaseException]]:
    """Yield (index, result or exception) for every item (see the module docstring)."""
    workers = max(1, min(workers, len(items)))
    if workers == 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads or previous)
        try:
            for index, item in enumerate(items):
                yield index, _call(function, item)
        finally:
            torch.set_num_threads(previous)
        return
    per_worker = threads or max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(per_worker,)) as pool:
        futures: dict[Any, int] = {pool.submit(_call, function, item): index for index, item in enumerate(items)}
        try:
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except Exception as err:  # the worker itself died
                    outcome = err
                yield futures[future], outcome
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def results(outcomes: Iterator[tuple[int, R | BaseException]]) -> Iterator[tuple[int, R]]:
    """The outcomes of :func:`run_items` for callers whose items report their own errors: an
    exception that still comes back is a bug, raised here."""
    for index, outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        yield index, outcome


__all__ = ["run_items", "results"]
