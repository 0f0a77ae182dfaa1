"""Run one function over many independent items (movies, micrographs), in worker processes.

``workers`` processes (RELION's MPI ranks) each use ``threads`` torch threads (default: the
CPUs shared equally); with one worker everything runs in this process. Each item's outcome
comes back as soon as it is done, in completion order, as (index, result) or (index,
exception): one bad item never stops the others. Workers are started with ``spawn`` (torch
and ``fork`` do not mix); ``function`` and the items must be picklable (module-level
functions or dataclass instances).

Jobs map through an executor chosen from their options: :class:`ProcessPool` (``run_items``
on this machine) or :class:`DaskPool` (the workers of a ``distributed.Client``, where a task
whose worker is lost is run again on another). Both have ``map(function, items, threads=None)``
with the outcomes above.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

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


class ItemExecutor(Protocol):
    """Maps a function over items (see the module docstring)."""

    @property
    def workers(self) -> int: ...

    def map(self, function: Callable[[T], R], items: Sequence[T],
            threads: int | None = None) -> Iterator[tuple[int, R | BaseException]]: ...


@dataclass(frozen=True)
class ProcessPool:
    """``workers`` spawned processes on this machine (one: this process), ``threads`` torch
    threads each (None: the CPUs shared equally)."""

    workers: int = 1
    threads: int | None = None

    def map(self, function: Callable[[T], R], items: Sequence[T],
            threads: int | None = None) -> Iterator[tuple[int, R | BaseException]]:
        """:func:`run_items` over the pool; ``threads`` overrides the pool's."""
        return run_items(function, items, self.workers, threads or self.threads)


@dataclass(frozen=True)
class DaskPool:
    """The workers of a Dask ``client``, each task with ``threads`` torch threads, run in
    ``directory`` (default: this process's working directory, the project: relative file names
    then mean the same on the workers, given a shared file system)."""

    client: Any
    threads: int = 1
    directory: str = field(default_factory=os.getcwd)

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info()["workers"]))

    def map(self, function: Callable[[T], R], items: Sequence[T],
            threads: int | None = None) -> Iterator[tuple[int, R | BaseException]]:
        """Submit every item; outcomes in completion order. A task that keeps killing its
        workers (Dask's KilledWorker) comes back as that item's exception."""
        from distributed import as_completed as dask_completed

        count = threads or self.threads
        futures = {self.client.submit(call_in, self.directory, function, item, count, pure=False): index
                   for index, item in enumerate(items)}
        try:
            for future in dask_completed(futures):
                try:
                    outcome = future.result()
                except Exception as err:  # lost workers, or an error while unpickling
                    outcome = err
                yield futures[future], outcome
        finally:
            for future in futures:
                future.cancel()


def call_in(directory: str, function: Callable[[T], R], item: T, threads: int) -> R | BaseException:
    """``function(item)`` in ``directory`` with ``threads`` torch threads, its exception returned (on a worker)."""
    previous = torch.get_num_threads(), os.getcwd()
    torch.set_num_threads(threads)
    os.chdir(directory)
    try:
        return _call(function, item)
    finally:
        torch.set_num_threads(previous[0])
        os.chdir(previous[1])


def results(outcomes: Iterator[tuple[int, R | BaseException]]) -> Iterator[tuple[int, R]]:
    """The outcomes of :func:`run_items` for callers whose items report their own errors: an
    exception that still comes back is a bug, raised here."""
    for index, outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        yield index, outcome


__all__ = ["run_items", "results", "ItemExecutor", "ProcessPool", "DaskPool", "call_in"]
