"""Sum the sufficient statistics of disjoint sets of particles (RELION's reduction of the
followers' wsum_model): back-projector sums and every accumulator are added; the result equals
one E-step over all particles up to the order of floating-point sums.
"""

from __future__ import annotations

from vitreo.ml.statistics import SufficientStatistics

#: Accumulators summed over particles (per group, class, particle or in total).
SUMMED = ("noise", "power", "group_count", "scale_xa", "scale_aa", "class_weight", "residual", "offset_sq",
          "offset_weight")
#: Fields that are the same in every part (geometry) or merged apart (the back-projectors).
SHARED = ("pixels", "symmetry", "box", "table", "pending", "pending_rows", "backprojectors")


def add_statistics(total: SufficientStatistics, part: SufficientStatistics) -> None:
    """Add ``part`` into ``total`` (both finished: their per-reference tables back-projected)."""
    unknown = sorted(set(vars(total)) - set(SUMMED) - set(SHARED))
    if unknown:  # a new accumulator must be summed here too, or distributed runs would drop it
        raise TypeError(f"SufficientStatistics has fields the merge does not know: {', '.join(unknown)}")
    if total.table is not None or part.table is not None or total.pending or part.pending:
        raise ValueError("finish() the statistics before adding them")
    if len(total.backprojectors) != len(part.backprojectors):
        raise ValueError("cannot add statistics of different numbers of classes")
    for name in SUMMED:
        mine, theirs = getattr(total, name), getattr(part, name)
        mine += theirs.to(mine.device)
    for mine, theirs in zip(total.backprojectors, part.backprojectors):
        mine.merge(theirs)


__all__ = ["SUMMED", "SHARED", "add_statistics"]
