"""Posterior weights over hypotheses, one row per particle: normalisation, significance, best.

Rows are particles, columns their hypotheses (e.g. shifts × references flattened); masked-out
hypotheses carry log-probability −inf. Significance is RELION's adaptive rule: per particle, the
most probable hypotheses that together hold ``fraction`` of the posterior (0.999 by default).
Instead of sorting, weights are binned on a log scale by their float32 bit pattern (exponent and
the first three mantissa bits: 8 bins per factor of 2, each 6.7–12.5% wide), which keeps at most
one bin's worth more than a sort would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MANTISSA_SHIFT = 20  # float32 bits dropped: 23 mantissa bits − 3 kept
N_BINS = 256  # 32 factors of 2 below the largest weight; smaller weights share the last bin


@dataclass(frozen=True)
class Posterior:
    """Normalised weights (B, N) (rows sum to 1) and each row's log-evidence log Σ exp (B,), float64."""

    weights: torch.Tensor
    log_evidence: torch.Tensor


#: Relative log-probability below which a weight is 0: float32 exp underflows near −87.3, and
#: below that (−inf included) torch's vectorised exp takes a path about 10× slower.
LOG_UNDERFLOW = -87.0
#: Weights below this (relative to the row's largest, 1) are set to exactly 0.
SMALLEST_WEIGHT = 1.0e-37


def normalise(log_p: torch.Tensor) -> Posterior:
    """Posterior weights from unnormalised log-probabilities (B, N); weights below
    SMALLEST_WEIGHT times the row's largest are exactly 0."""
    top = log_p.amax(dim=1, keepdim=True)
    weights = (log_p - top).clamp_min_(LOG_UNDERFLOW).exp_()
    torch.nn.functional.threshold_(weights, SMALLEST_WEIGHT, 0.0)
    total = weights.sum(dim=1)  # pairwise summation: float32 is exact enough for weights ≤ 1
    weights /= total[:, None]
    return Posterior(weights, torch.log(total.double()) + top[:, 0].double())


def significance_threshold(weights: torch.Tensor, fraction: float) -> torch.Tensor:
    """Per row (B,) the smallest weight to keep so that the kept weights hold ≥ ``fraction``.

    ``weights`` (B, N) float32, non-negative. Bin 0 holds the row's largest weight.
    """
    bits = weights.contiguous().view(torch.int32) >> MANTISSA_SHIFT
    top = bits.amax(dim=1, keepdim=True)
    level = (top - bits).clamp_(0, N_BINS - 1).long()
    mass = torch.zeros(weights.shape[0], N_BINS, device=weights.device).scatter_add_(1, level, weights)
    cumulative = mass.cumsum(dim=1)
    target = (fraction * cumulative[:, -1:]).contiguous()
    last_bin = torch.searchsorted(cumulative, target).clamp_max(N_BINS - 1)
    threshold = ((top - last_bin) << MANTISSA_SHIFT).to(torch.int32).view(torch.float32)[:, 0]
    return torch.where(last_bin[:, 0] >= N_BINS - 1, torch.zeros_like(threshold), threshold)


def prune(weights: torch.Tensor, fraction: float) -> torch.Tensor:
    """Weights (B, N) with the insignificant ones set to 0 and each row renormalised to 1."""
    kept = torch.where(weights >= significance_threshold(weights, fraction)[:, None], weights, 0.0)
    return kept / kept.sum(dim=1, keepdim=True).clamp_min(1e-30)
