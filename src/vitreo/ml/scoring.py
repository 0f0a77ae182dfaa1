"""Log-likelihoods of hypotheses by matrix products (the E-step's arithmetic).

For a particle X with CTF c, group noise σ² and likelihood pixel weights λ, a projection P and a
shift phase φ_t, the Gaussian log-likelihood up to terms without P or t is

    score = Σ_k λ/σ² · Re(X φ_t · conj(c P)) − Σ_k λ/(2σ²) · c² |P|²,

the full one being score − Σ λ|X|²/(2σ²) − Σ λ·log(2πσ²). For a batch of B particles, T shifts
and R references, Y = X φ_t c λ/σ² is stacked as real [Re Y, Im Y] ((B·T) × 2F) and multiplied
by [Re P, Im P]ᵀ (2F × R): one real GEMM for Σ Re(Y conj P), half the cost of the complex
product; the |P|² term is a second real GEMM (B × F)·(F × R). FLOP counts and GEMM seconds go
to a :class:`GemmTimer`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from vitreo.ml.batch import ExperimentalBatch

@dataclass
class GemmTimer:
    """Floating-point operations and seconds spent in the E-step's matrix products."""

    flops: float = 0.0
    seconds: float = 0.0

    def matmul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = a @ b
        if out.is_cuda:
            torch.cuda.synchronize(out.device)
        self.seconds += time.perf_counter() - start
        self.flops += 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
        return out

    def bmm(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Batched product (n, m, k)·(n, k, p), timed and counted like :meth:`matmul`."""
        start = time.perf_counter()
        out = torch.bmm(a, b)
        if out.is_cuda:
            torch.cuda.synchronize(out.device)
        self.seconds += time.perf_counter() - start
        self.flops += 2.0 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
        return out

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9 if self.seconds > 0 else 0.0


def stack_complex(x: torch.Tensor) -> torch.Tensor:
    """(…, F) complex -> (…, 2F) real [Re, Im]."""
    return torch.cat([x.real, x.imag], dim=-1)


def shifted_stack(values: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
    """[Re, Im] of values (B, F) complex times phases (T, F) complex -> (B, T, 2F) real, written
    in place without complex temporaries."""
    b, f = values.shape
    out = torch.empty(b, phases.shape[0], 2 * f, dtype=values.real.dtype, device=values.device)
    real, imag = out[..., :f], out[..., f:]
    vr, vi, pr, pi = values.real[:, None, :], values.imag[:, None, :], phases.real[None], phases.imag[None]
    torch.mul(vr, pr, out=real).addcmul_(vi, pi, value=-1.0)
    torch.mul(vr, pi, out=imag).addcmul_(vi, pr)
    return out


@dataclass(frozen=True)
class StackedProjections:
    """R projections on F pixels in the E-step's real form: ``stacked`` [Re P, Im P] (R, 2F) and
    ``power`` |P|² (R, F)."""

    stacked: torch.Tensor
    power: torch.Tensor

    @classmethod
    def from_complex(cls, projections: torch.Tensor) -> StackedProjections:
        """From projections (R, F) complex."""
        return cls(stack_complex(projections), projections.real.square() + projections.imag.square())

    @classmethod
    def empty(cls, n: int, f: int, device: torch.device | str | None = None) -> StackedProjections:
        """A zero table of n projections on f pixels, to be filled row by row."""
        return cls(torch.zeros(n, 2 * f, device=device), torch.zeros(n, f, device=device))

    def __len__(self) -> int:
        return self.stacked.shape[0]

    @property
    def n_pixels(self) -> int:
        return self.power.shape[-1]

    def select(self, index: torch.Tensor) -> StackedProjections:
        """The rows ``index`` (any shape), as projections of shape (*index.shape, …)."""
        return StackedProjections(self.stacked[index], self.power[index])

    def assign(self, index: torch.Tensor, rows: StackedProjections) -> None:
        """Write ``rows`` into the rows ``index`` of this table."""
        self.stacked[index] = rows.stacked
        self.power[index] = rows.power


def dense_scores(
    batch: ExperimentalBatch, projections: StackedProjections, phases: torch.Tensor, timer: GemmTimer
) -> torch.Tensor:
    """Scores (B, T, R) of every particle × shift × reference on the first F pixels.

    ``projections`` R on F pixels, ``phases`` (T, F) complex; F ≤ the batch's pixel count.
    """
    f = projections.n_pixels
    weight = batch.lik_inv_sigma2[:, :f]
    ctf = batch.ctf_model[:, :f]
    y = shifted_stack(batch.data[:, :f] * (ctf * weight), phases)
    b, t = y.shape[:2]
    cross = timer.matmul(y.reshape(b * t, 2 * f), projections.stacked.T)
    quad = timer.matmul(0.5 * ctf * ctf * weight, projections.power.T)
    return cross.reshape(b, t, -1) - quad[:, None, :]


def gathered_scores(
    batch: ExperimentalBatch, projections: StackedProjections, columns: torch.Tensor, phases: torch.Tensor,
    timer: GemmTimer,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (B, T, C) of each particle × shift against its own C references: ``columns``
    (B, C) index the R ``projections`` (local searches and the fine pass, where particles share
    few references). Also returns the gathered [Re, Im] projections (B, C, 2F), which the
    statistics reuse. The cross term is one batched GEMM; the |P|² term one GEMM over all R."""
    f = projections.n_pixels
    weight = batch.lik_inv_sigma2[:, :f]
    ctf = batch.ctf_model[:, :f]
    y = shifted_stack(batch.data[:, :f] * (ctf * weight), phases)  # (B, T, 2F)
    own = projections.stacked[columns]  # (B, C, 2F)
    cross = timer.bmm(y, own.transpose(1, 2))
    quad = timer.matmul(0.5 * ctf * ctf * weight, projections.power.T).gather(1, columns)  # (B, C)
    return cross - quad[:, None, :], own
