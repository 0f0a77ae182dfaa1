"""Log-likelihoods of hypotheses by matrix products (the E-step's arithmetic).

For a particle X with CTF c, group noise σ² and likelihood pixel weights λ, a projection P and a
shift phase φ_t, the Gaussian log-likelihood up to terms without P or t is

    score = Σ_k λ/σ² · Re(X φ_t · conj(c P)) − Σ_k λ/(2σ²) · c² |P|²,

the full one being score − Σ λ|X|²/(2σ²) − Σ λ·log(2πσ²). Two layouts compute the cross term:

- dense (all particles × all references): Y = X φ_t c λ/σ² is stacked as real [Re Y, Im Y]
  ((B·T) × 2F) and multiplied by [Re P, Im P]ᵀ (2F × R): one real GEMM, half the cost of the
  complex product; the |P|² term is a second real GEMM (B × F)·(F × R).
- pairs (particle, reference) listed explicitly, e.g. the significant ones: Z = X c λ/σ² ·
  conj(P) per pair, then [Re Z, −Im Z] (pairs × 2F) · [Re φ; Im φ] (2F × T) scores every shift.

FLOP counts and GEMM seconds go to a :class:`GemmTimer`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from vitreo.ml.batch import ExperimentalBatch

#: Bound on (pairs × pixels) materialised at once in the pairs layout (complex64: 8 bytes each).
PAIR_CHUNK_ELEMENTS = 1 << 23


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


def pair_scores(
    batch: ExperimentalBatch,
    pair_particle: torch.Tensor,
    pair_reference: torch.Tensor,
    projections: torch.Tensor,
    phases: torch.Tensor,
    timer: GemmTimer,
) -> torch.Tensor:
    """Scores (P, T) of listed (particle, reference) pairs for every shift.

    ``pair_particle`` (P,) indexes the batch and ``pair_reference`` (P,) the rows of
    ``projections`` (U, F) complex; ``phases`` (T, F) complex.
    """
    f = projections.shape[-1]
    out = torch.empty(pair_particle.shape[0], phases.shape[0], device=projections.device)
    phase_matrix = torch.cat([phases.real, phases.imag], dim=-1).T.contiguous()  # (2F, T)
    factor = batch.ctf_model[:, :f] * batch.lik_inv_sigma2[:, :f]
    quad_factor = 0.5 * batch.ctf_model[:, :f] * factor
    power = projections.real.square() + projections.imag.square()
    step = max(1, PAIR_CHUNK_ELEMENTS // max(1, f))
    for start in range(0, pair_particle.shape[0], step):
        part = slice(start, start + step)
        who, ref_id = pair_particle[part], pair_reference[part]
        z = batch.data[who, :f] * factor[who] * projections[ref_id].conj()
        cross = timer.matmul(torch.cat([z.real, -z.imag], dim=-1), phase_matrix)
        quad = (quad_factor[who] * power[ref_id]).sum(-1)
        out[part] = cross - quad[:, None]
    return out
