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


def dense_scores(
    batch: ExperimentalBatch, projections: torch.Tensor, phases: torch.Tensor, timer: GemmTimer
) -> torch.Tensor:
    """Scores (B, T, R) of every particle × shift × reference on the first F pixels.

    ``projections`` (R, F) complex, ``phases`` (T, F) complex; F ≤ the batch's pixel count.
    """
    f = projections.shape[-1]
    weight = batch.lik_inv_sigma2[:, :f]
    ctf = batch.ctf_model[:, :f]
    y = (batch.data[:, :f] * (ctf * weight))[:, None, :] * phases[None]
    b, t = y.shape[:2]
    cross = timer.matmul(stack_complex(y).reshape(b * t, 2 * f), stack_complex(projections).T)
    power = projections.real.square() + projections.imag.square()
    quad = timer.matmul(0.5 * ctf * ctf * weight, power.T)
    return cross.reshape(b, t, -1) - quad[:, None, :]


def gathered_scores(
    batch: ExperimentalBatch, projections: torch.Tensor, columns: torch.Tensor, phases: torch.Tensor, timer: GemmTimer
) -> torch.Tensor:
    """Scores (B, T, C) of each particle × shift against its own C references: ``columns``
    (B, C) index ``projections`` (R, F) (local searches, where particles share few references).
    One batched GEMM per term, as :func:`dense_scores`."""
    f = projections.shape[-1]
    weight = batch.lik_inv_sigma2[:, :f]
    ctf = batch.ctf_model[:, :f]
    y = stack_complex((batch.data[:, :f] * (ctf * weight))[:, None, :] * phases[None])  # (B, T, 2F)
    gathered = stack_complex(projections)[columns]  # (B, C, 2F)
    cross = timer.bmm(y, gathered.transpose(1, 2))
    power = (projections.real.square() + projections.imag.square())[columns]  # (B, C, F)
    quad = timer.bmm((0.5 * ctf * ctf * weight)[:, None, :], power.transpose(1, 2))[:, 0]
    return cross - quad[:, None, :]
