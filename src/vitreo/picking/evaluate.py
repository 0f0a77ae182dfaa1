"""Picking, extraction and sorting measured against simulated truth (used by tests and benchmarks).

- :func:`match_positions`: one-to-one matching of picks to true centres within a distance
  (minimum total distance, Hungarian algorithm), per micrograph;
- :func:`pick_scores`: precision and recall of picks against the true particles (junk
  excluded from the truth, so a pick on junk counts as a false positive);
- :func:`roc_auc`: the area under the ROC curve of a score separating two classes (Mann–Whitney).

Positions are (x, y) in micrograph pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.stats import rankdata


@dataclass(frozen=True)
class PickScores:
    """Counts and rates of a picking run against truth."""

    n_picks: int
    n_true: int
    n_matched: int

    @property
    def precision(self) -> float:
        return self.n_matched / self.n_picks if self.n_picks else 0.0

    @property
    def recall(self) -> float:
        return self.n_matched / self.n_true if self.n_true else 0.0


def match_positions(picks: np.ndarray, truth: np.ndarray, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """(pick index, truth index) arrays of matched pairs closer than ``max_distance`` pixels."""
    picks, truth = np.asarray(picks, float).reshape(-1, 2), np.asarray(truth, float).reshape(-1, 2)
    if not len(picks) or not len(truth):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    distance = cdist(picks, truth)
    cost = np.where(distance <= max_distance, distance, 1e9)
    rows, cols = linear_sum_assignment(cost)
    keep = distance[rows, cols] <= max_distance
    return rows[keep], cols[keep]


def pick_scores(picks: dict[str, np.ndarray], truth: dict[str, np.ndarray], max_distance: float) -> PickScores:
    """Scores over micrographs: ``picks`` and ``truth`` map a micrograph key to (n, 2) positions."""
    n_picks = sum(len(np.reshape(p, (-1, 2))) for p in picks.values())
    n_true = sum(len(np.reshape(t, (-1, 2))) for t in truth.values())
    matched = sum(len(match_positions(picks[key], truth[key], max_distance)[0]) for key in picks if key in truth)
    return PickScores(n_picks, n_true, matched)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counted half."""
    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        raise ValueError("the ROC AUC needs both positive and negative examples")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


__all__ = ["PickScores", "match_positions", "pick_scores", "roc_auc"]
