"""The E-step's bounded projection cache: every request is answered with the right rows, each
reference projected once while the cache has room, and everything recomputed after a reset."""

from __future__ import annotations

import torch

from vitreo.ml.projection_cache import ProjectionCache
from vitreo.ml.scoring import StackedProjections


def _projector(calls: list[torch.Tensor]):
    def project(ids: torch.Tensor) -> StackedProjections:
        calls.append(ids.clone())
        values = ids.float()[:, None] * torch.ones(1, 3)
        return StackedProjections.from_complex(torch.complex(values, -values))

    return project


def test_rows_are_right_and_made_once_while_they_fit() -> None:
    calls: list[torch.Tensor] = []
    cache = ProjectionCache(100, 3, 10, _projector(calls))
    for ids in (torch.tensor([4, 7, 9]), torch.tensor([7, 9, 12]), torch.tensor([4, 12])):
        got = cache.get(ids)
        assert torch.equal(got.stacked[:, 0], ids.float()) and torch.equal(got.stacked[:, 3], -ids.float())
    assert cache.computed == 4 and sorted(torch.cat(calls).tolist()) == [4, 7, 9, 12]


def test_a_full_cache_starts_over_and_oversized_requests_bypass_it() -> None:
    calls: list[torch.Tensor] = []
    cache = ProjectionCache(100, 3, 4, _projector(calls))
    cache.get(torch.tensor([1, 2, 3]))
    got = cache.get(torch.tensor([3, 5, 6]))  # 2 new rows do not fit in the 1 free slot: reset
    assert torch.equal(got.stacked[:, 0], torch.tensor([3.0, 5.0, 6.0])) and cache.used == 3
    big = cache.get(torch.arange(10, 16))
    assert torch.equal(big.stacked[:, 0], torch.arange(10, 16).float()) and cache.used == 3
    assert cache.computed == 3 + 3 + 6
