"""The E-step on Dask workers, as RELION's MPI followers.

Inside ``with distributed_estep(client, threads, gpu):`` every E-step of the ML engine
(:func:`vitreo.ml.estep_plan.expect_parts`) is split over the client's workers:

- the particles go to every worker once per run (``scatter``, broadcast): pre-read images are
  held by each worker, as RELION's followers do with --preread_images; streamed images are read
  by the workers from the leader's files, or, where those are not to be seen (the leader's
  scratch disk on another machine), from a copy in the worker's own ``scratch_dir``
  (:mod:`vitreo.ml.worker_scratch`);
- each part's particles, in the E-step's batch order, are cut into one contiguous shard per
  worker of its group (Refine3D's two half-sets run at the same time on separate halves of the
  workers); a shard runs the ordinary E-step of the part's :class:`EStepPlan` with ``threads``
  torch threads on the worker's device (``gpu``: RELION's --gpu, "0:1" gives the workers GPUs 0
  and 1 in turn) and returns its statistics and the new orientations of its particles;
- the shards' statistics are summed on the workers, pairwise (MPI_Allreduce's tree), and one
  total per part comes back to this process for the M-step.

A shard whose worker is lost is run again on another worker (Dask reschedules it), with the same
inputs, so the result does not change. Results equal one process up to the order of
floating-point sums; with noise-filled backgrounds (do_zero_mask No) each shard draws its own
noise, from a seed derived from the run's generator without drawing from it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

import torch

from vitreo.em.backend import worker_device
from vitreo.ml.driver import state_rows
from vitreo.ml.estep_plan import EStepPart, EStepPlan
from vitreo.ml.expectation import batch_order
from vitreo.ml.model import ParticleState
from vitreo.ml.particles import ParticleSet, StreamedImages
from vitreo.ml.scoring import GemmTimer
from vitreo.ml.statistics import SufficientStatistics
from vitreo.ml.statistics_merge import add_statistics
from vitreo.ml.worker_scratch import local_particles, remove_worker_scratch

_ACTIVE: ContextVar[EStepWorkers | None] = ContextVar("vitreo_estep_workers", default=None)


def active_workers() -> EStepWorkers | None:
    """The workers of the enclosing :func:`distributed_estep`, or None (E-steps run here)."""
    return _ACTIVE.get()


@contextmanager
def distributed_estep(client: Any, threads: int = 1, gpu: str | None = None, scratch_dir: str = "") -> Iterator[EStepWorkers]:
    """Run the E-steps inside the block on the workers of the Dask ``client`` (see the module docstring)."""
    workers = EStepWorkers(client, threads, gpu, scratch_dir)
    token = _ACTIVE.set(workers)
    try:
        yield workers
    finally:
        _ACTIVE.reset(token)
        workers.release()


class EStepWorkers:
    """Splits E-steps over the workers of a Dask client (see the module docstring)."""

    def __init__(self, client: Any, threads: int = 1, gpu: str | None = None, scratch_dir: str = "") -> None:
        if threads < 1:
            raise ValueError(f"number of threads must be at least 1, not {threads}")
        self.client, self.threads, self.gpu, self.scratch_dir = client, threads, gpu, scratch_dir
        self._sent: tuple[ParticleSet, Any] | None = None
        #: per E-step, the CPU seconds of each shard on its worker (for benchmarks: the critical path)
        self.shard_cpu_seconds: list[list[float]] = []

    def addresses(self) -> list[str]:
        """The workers' addresses, sorted (their order numbers the GPUs), after at least one joined."""
        self.client.wait_for_workers(1)
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    def release(self) -> None:
        """Forget the particles sent to the workers (and delete the workers' scratch copies)."""
        if self._sent is not None:
            self._sent[1].release()
            self._sent = None
            if self.scratch_dir:
                self.client.run(remove_worker_scratch)

    def _particles(self, particles: ParticleSet) -> Any:
        """The future of ``particles`` on every worker (sent when they are not the last ones sent)."""
        if self._sent is None or self._sent[0] is not particles:
            self.release()
            self._sent = (particles, self.client.scatter(portable(particles), broadcast=True, hash=False))
        return self._sent[1]

    def expect(
        self,
        parts: Sequence[EStepPart],
        particles: ParticleSet,
        state: ParticleState,
        generator: torch.Generator | None,
        device: torch.device | str,
        timer: GemmTimer,
        allowed_classes: torch.Tensor | None = None,
    ) -> tuple[ParticleState, list[SufficientStatistics]]:
        """:func:`vitreo.ml.estep_plan.expect_parts` on the workers: the new state and each part's statistics."""
        from distributed import as_completed

        addresses = self.addresses()
        index_of = {address: i for i, address in enumerate(addresses)}
        remote_particles = self._particles(particles)
        order = batch_order(state)
        shards: dict[Any, tuple[int, int]] = {}  # future -> (part, its number of particles)
        totals = []
        for p, (part, group) in enumerate(zip(parts, worker_groups(addresses, len(parts)))):
            ids = order if part.subset is None else order[torch.isin(order, part.subset.cpu())]
            futures = {}
            for s, (shard, address) in enumerate(zip(torch.tensor_split(ids, len(group)), group)):
                if len(shard):
                    future = self.client.submit(
                        run_shard, remote_particles, part.plan, state, shard, allowed_classes,
                        shard_seed(generator, p, s), self.threads, self.gpu, index_of, self.scratch_dir,
                        workers=[address], allow_other_workers=True, pure=False,
                    )
                    futures[future] = (p, len(shard))
            if not futures:
                raise ValueError("an E-step part has no particles")
            shards.update(futures)
            totals.append(tree_sum(self.client, list(futures)))
        try:
            done = [0] * len(parts)
            for future in as_completed(list(shards)):
                p, count = shards[future]
                done[p] += count
                if parts[p].progress is not None:
                    parts[p].progress(done[p])
            payloads = [load_payload(data, device) for data in self.client.gather(totals)]
        finally:
            for future in [*shards, *totals]:
                future.cancel()
        self.shard_cpu_seconds.append([cpu for payload in payloads for cpu in payload["cpu"]])
        return joined_state(state, payloads, timer), [payload["stats"] for payload in payloads]


def joined_state(state: ParticleState, payloads: list[dict[str, Any]], timer: GemmTimer) -> ParticleState:
    """``state`` with the rows of the payloads put in, and their GEMM figures added to ``timer``."""
    new_state = state.copy()
    for payload in payloads:
        for name, value in payload["rows"].__dict__.items():
            getattr(new_state, name)[payload["ids"]] = value.to(getattr(new_state, name))
        timer.flops += payload["flops"]
        timer.seconds += payload["seconds"]
    return new_state


def worker_groups(addresses: list[str], n_groups: int) -> list[list[str]]:
    """Workers for each of ``n_groups`` parts: every worker for one part; else disjoint groups
    taken in turn (with fewer workers than parts, parts share them)."""
    if n_groups <= len(addresses):
        return [addresses[g::n_groups] for g in range(n_groups)]
    return [[addresses[g % len(addresses)]] for g in range(n_groups)]


def shard_seed(generator: torch.Generator | None, part: int, shard: int) -> int:
    """A 63-bit seed for a shard's own generator, from the run generator's state (not drawn from it)."""
    state = b"" if generator is None else generator.get_state().numpy().tobytes()
    digest = hashlib.blake2b(state + f"{part}:{shard}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def portable(particles: ParticleSet) -> ParticleSet:
    """``particles`` with streamed images located by an absolute project folder, for workers
    whose working folder differs."""
    images = particles.images
    if not isinstance(images, StreamedImages) or images.project_dir.is_absolute():
        return particles
    moved = copy.copy(images)
    moved.project_dir = images.project_dir.resolve()
    return replace(particles, images=moved)


def run_shard(
    particles: ParticleSet,
    plan: EStepPlan,
    state: ParticleState,
    ids: torch.Tensor,
    allowed_classes: torch.Tensor | None,
    seed: int,
    threads: int,
    gpu: str | None,
    index_of: dict[str, int],
    scratch_dir: str = "",
) -> bytes:
    """The E-step of particles ``ids`` on this worker: its payload (statistics, ids, new rows, GEMM
    figures, CPU seconds)."""
    from distributed import get_worker

    device = worker_device(gpu, index_of.get(get_worker().address, 0))
    particles = local_particles(particles, scratch_dir)
    previous, cpu = torch.get_num_threads(), time.process_time()
    torch.set_num_threads(threads)
    try:
        timer = GemmTimer()
        expectation = plan.expectation(device, timer)
        stats = plan.statistics(expectation, particles, device)
        generator = torch.Generator().manual_seed(seed)
        new = expectation.run(particles, state, stats, generator, subset=ids, allowed_classes=allowed_classes)
        return save_payload({"stats": stats, "ids": ids, "rows": state_rows(new, ids), "flops": timer.flops,
                             "seconds": timer.seconds, "cpu": [time.process_time() - cpu]})
    finally:
        torch.set_num_threads(previous)


def merge_payloads(first: bytes, second: bytes) -> bytes:
    """Two shards' payloads as one: statistics summed, rows and shard CPU times joined, GEMM figures added."""
    a, b = load_payload(first, "cpu"), load_payload(second, "cpu")
    add_statistics(a["stats"], b["stats"])
    rows = {name: torch.cat([value, getattr(b["rows"], name)]) for name, value in a["rows"].__dict__.items()}
    return save_payload({"stats": a["stats"], "ids": torch.cat([a["ids"], b["ids"]]), "rows": ParticleState(**rows),
                         "flops": a["flops"] + b["flops"], "seconds": a["seconds"] + b["seconds"],
                         "cpu": a["cpu"] + b["cpu"]})


def tree_sum(client: Any, futures: list[Any]) -> Any:
    """The future of all payloads merged pairwise on the workers."""
    while len(futures) > 1:
        merged = [client.submit(merge_payloads, futures[i], futures[i + 1], pure=False)
                  for i in range(0, len(futures) - 1, 2)]
        futures = merged + futures[len(futures) - len(futures) % 2:]
    return futures[0]


def save_payload(payload: dict[str, Any]) -> bytes:
    """A payload as bytes (torch.save), so that tensors of any device travel between machines."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def load_payload(data: bytes, device: torch.device | str) -> dict[str, Any]:
    """A payload of :func:`save_payload` with its tensors on ``device``."""
    return torch.load(io.BytesIO(data), map_location=device, weights_only=False)


__all__ = ["active_workers", "distributed_estep", "EStepWorkers", "joined_state", "worker_groups", "shard_seed", "portable",
           "run_shard", "merge_payloads", "tree_sum"]
