"""Posterior weights over hypotheses grouped by particle: normalisation, significance, best hypothesis.

Hypotheses are rows of a (H, T) matrix of log-probabilities whose rows belong to particles
(``owner`` (H,) into 0 … n−1); all T columns of a row belong to its owner. Significance is
RELION's adaptive rule: per particle, the most probable hypotheses that together hold
``fraction`` of the posterior (0.999 by default). Instead of sorting, probabilities are binned by
−log p in steps of ``BIN_WIDTH`` nats, which keeps at most one bin's worth more than a sort would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BIN_WIDTH = 0.125  # nats
N_BINS = 256  # covers p down to e^-32


def segment_max(values: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """Max of rows (H, T) per owner (n,); −inf for owners without rows."""
    row_max = values.amax(dim=1)
    out = torch.full((n,), float("-inf"), dtype=values.dtype, device=values.device)
    return out.scatter_reduce(0, owner, row_max, reduce="amax", include_self=True)


def segment_sum(values: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """Sum of rows (H, T) or of values (H,) per owner (n,)."""
    rows = values.sum(dim=1) if values.dim() == 2 else values
    return rows.new_zeros(n).index_add_(0, owner, rows)


@dataclass(frozen=True)
class Posterior:
    """Normalised weights (H, T) (each owner's rows sum to 1) and each owner's log-evidence
    log Σ exp(log p) (n,) in float64."""

    weights: torch.Tensor
    log_evidence: torch.Tensor


def normalise(log_p: torch.Tensor, owner: torch.Tensor, n: int) -> Posterior:
    """Posterior weights from unnormalised log-probabilities (H, T)."""
    top = segment_max(log_p, owner, n)
    weights = torch.exp(log_p - top[owner][:, None])
    total = segment_sum(weights.double(), owner, n)
    weights = weights / total.to(weights.dtype)[owner][:, None]
    return Posterior(weights, torch.log(total) + top.double())


def significance_threshold(weights: torch.Tensor, owner: torch.Tensor, n: int, fraction: float) -> torch.Tensor:
    """Per owner (n,) the smallest weight to keep so that the kept weights hold ≥ ``fraction``."""
    level = torch.clamp(-torch.log(weights.clamp_min(1e-38)) / BIN_WIDTH, 0, N_BINS - 1).long()
    key = (owner[:, None] * N_BINS + level).reshape(-1)
    mass = weights.new_zeros(n * N_BINS, dtype=torch.float64).index_add_(0, key, weights.reshape(-1).double())
    cumulative = mass.reshape(n, N_BINS).cumsum(dim=1)
    total = cumulative[:, -1:]
    last_bin = torch.searchsorted(cumulative, (fraction * total).contiguous()).clamp_max(N_BINS - 1)[:, 0]
    threshold = torch.exp(-(last_bin + 1).double() * BIN_WIDTH).to(weights.dtype)
    return torch.where(last_bin >= N_BINS - 1, torch.zeros_like(threshold), threshold)


def prune(posterior: Posterior, owner: torch.Tensor, n: int, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (H, T) with insignificant ones set to 0 and each owner's rest renormalised to 1,
    and the number of kept weights per owner (n,)."""
    weights = posterior.weights
    threshold = significance_threshold(weights, owner, n, fraction)
    keep = weights >= threshold[owner][:, None]
    kept = torch.where(keep, weights, torch.zeros_like(weights))
    total = segment_sum(kept.double(), owner, n).clamp_min(1e-300)
    count = segment_sum(keep.long(), owner, n)
    return kept / total.to(kept.dtype)[owner][:, None], count


def segment_argmax(weights: torch.Tensor, owner: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each owner: its largest weight (n,), the row (n,) and column (n,) holding it."""
    row_best, col_best = weights.max(dim=1)
    top = torch.full((n,), -1.0, dtype=weights.dtype, device=weights.device)
    top = top.scatter_reduce(0, owner, row_best, reduce="amax", include_self=True)
    rows = torch.arange(weights.shape[0], device=weights.device)
    candidate = torch.where(row_best == top[owner], rows, torch.full_like(rows, weights.shape[0]))
    best_row = torch.full((n,), weights.shape[0], dtype=torch.long, device=weights.device)
    best_row = best_row.scatter_reduce(0, owner, candidate, reduce="amin", include_self=True)
    best_row = best_row.clamp_max(max(weights.shape[0] - 1, 0))
    return top, best_row, col_best[best_row]
