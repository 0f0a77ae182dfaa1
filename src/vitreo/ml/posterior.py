"""Posterior weights over hypotheses, one row per particle: normalisation, significance, best.

Rows are particles, columns their hypotheses (e.g. shifts × references flattened); masked-out
hypotheses carry log-probability −inf. Significance is RELION's adaptive rule: per particle, the
most probable hypotheses that together hold ``fraction`` of the posterior (0.999 by default).
Instead of sorting, probabilities are binned by −log p in steps of ``BIN_WIDTH`` nats, which keeps
at most one bin's worth more than a sort would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BIN_WIDTH = 0.125  # nats
N_BINS = 256  # covers p down to e^-32


@dataclass(frozen=True)
class Posterior:
    """Normalised weights (B, N) (rows sum to 1) and each row's log-evidence log Σ exp (B,), float64."""

    weights: torch.Tensor
    log_evidence: torch.Tensor


def normalise(log_p: torch.Tensor) -> Posterior:
    """Posterior weights from unnormalised log-probabilities (B, N)."""
    top = log_p.amax(dim=1, keepdim=True)
    weights = torch.exp(log_p - top)
    total = weights.sum(dim=1, dtype=torch.float64)
    weights /= total.to(weights.dtype)[:, None]
    return Posterior(weights, torch.log(total) + top[:, 0].double())


def significance_threshold(weights: torch.Tensor, fraction: float) -> torch.Tensor:
    """Per row (B,) the smallest weight to keep so that the kept weights hold ≥ ``fraction``."""
    n = weights.shape[0]
    level = torch.clamp(-torch.log(weights.clamp_min(1e-38)) / BIN_WIDTH, 0, N_BINS - 1).long()
    level += torch.arange(n, device=weights.device)[:, None] * N_BINS
    mass = torch.zeros(n * N_BINS, dtype=torch.float64, device=weights.device)
    mass.index_add_(0, level.reshape(-1), weights.reshape(-1).double())
    cumulative = mass.reshape(n, N_BINS).cumsum(dim=1)
    target = (fraction * cumulative[:, -1:]).contiguous()
    last_bin = torch.searchsorted(cumulative, target).clamp_max(N_BINS - 1)[:, 0]
    threshold = torch.exp(-(last_bin + 1).double() * BIN_WIDTH).to(weights.dtype)
    return torch.where(last_bin >= N_BINS - 1, torch.zeros_like(threshold), threshold)


def prune(weights: torch.Tensor, fraction: float) -> torch.Tensor:
    """Weights (B, N) with the insignificant ones set to 0 and each row renormalised to 1."""
    kept = torch.where(weights >= significance_threshold(weights, fraction)[:, None], weights, 0.0)
    return kept / kept.sum(dim=1, keepdim=True).clamp_min(1e-30)
