"""Peak search: local maxima, edges, noisy areas, and the minimum distance between picks."""

from __future__ import annotations

import numpy as np
import torch

from vitreo.picking.peaks import find_peaks, suppress_close


def _greedy(x: np.ndarray, y: np.ndarray, strength: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """The sequential definition: from the strongest down, keep a peak unless a kept one is too close."""
    kept = np.zeros(len(x), bool)
    for i in np.argsort(-strength, kind="stable"):
        close = np.hypot(x[kept] - x[i], y[kept] - y[i]) < radius[kept]
        kept[i] = not close.any()
    return kept


def test_parallel_suppression_equals_the_greedy_pass_for_fixed_and_per_peak_radii() -> None:
    rng = np.random.default_rng(0)
    x, y, strength = rng.uniform(0, 100, 400), rng.uniform(0, 100, 400), rng.uniform(0, 1, 400)
    assert np.array_equal(suppress_close(x, y, strength, 7.0), _greedy(x, y, strength, np.full(400, 7.0)))
    radii = rng.uniform(2, 12, 400)
    assert np.array_equal(suppress_close(x, y, strength, radii), _greedy(x, y, strength, radii))
    assert suppress_close(x[:0], y[:0], strength[:0], 5.0).shape == (0,)


def _map(peaks: list[tuple[int, int, float]], size: int = 64) -> torch.Tensor:
    axis = torch.arange(size, dtype=torch.float32)
    fom = torch.zeros(size, size)
    for x, y, height in peaks:
        fom += height * torch.exp(-((axis[None, :] - x) ** 2 + (axis[:, None] - y) ** 2) / 4.0)
    return fom


def test_peaks_respect_threshold_edges_noise_and_distance() -> None:
    fom = _map([(20, 20, 8.0), (25, 20, 7.0), (40, 40, 6.0), (50, 10, 9.0), (3, 30, 9.0)])
    std = torch.ones_like(fom)
    std[35:45, 35:45] = 2.0  # a noisy patch (carbon edge) around the third peak
    zeros = torch.zeros_like(fom, dtype=torch.long)
    common = dict(scale=0.5, shape=(128, 128), min_distance=12.0, skip_side=10.0)
    peaks = find_peaks(fom, zeros.float(), zeros, torch.zeros_like(fom), std, threshold=5.0, **common)
    # (25, 20) is 10 micrograph px (5 work px) from a stronger peak; (3, 30) is 6 px from the edge
    assert sorted(zip(peaks.x.round().tolist(), peaks.y.round().tolist())) == [(40.0, 40.0), (80.0, 80.0), (100.0, 20.0)]
    quiet = find_peaks(fom, zeros.float(), zeros, torch.zeros_like(fom), std, threshold=5.0, max_stddev=1.5, **common)
    assert (80.0, 80.0) not in zip(quiet.x.round().tolist(), quiet.y.round().tolist()) and len(quiet) == 2
    high = find_peaks(fom, zeros.float(), zeros, torch.zeros_like(fom), std, threshold=8.5, **common)
    assert len(high) == 1


def test_peaks_are_refined_below_the_work_pixel() -> None:
    axis = torch.arange(32, dtype=torch.float32)
    fom = 10 * torch.exp(-((axis[None, :] - 15.3) ** 2 + (axis[:, None] - 16.6) ** 2) / 8.0)
    zeros = torch.zeros_like(fom)
    peaks = find_peaks(fom, zeros, zeros.long(), zeros, torch.ones_like(fom), scale=1.0, shape=(32, 32),
                       threshold=5.0, min_distance=5.0, skip_side=0.0)
    assert abs(peaks.x[0] - 15.3) < 0.1 and abs(peaks.y[0] - 16.6) < 0.1
