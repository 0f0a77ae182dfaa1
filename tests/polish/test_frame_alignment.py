"""Per-frame translation refinement (MovieRefine) and the likelihood maps it uses."""

from __future__ import annotations

import numpy as np
import torch

from vitreo.polish.frame_alignment import AlignmentSettings, align_frames
from vitreo.polish.likelihood import map_peaks, running_average

from tests.polish.synthetic import displaced_frames, random_angles, references_for, smooth_volume


def test_map_peaks_find_a_sub_pixel_maximum() -> None:
    k = torch.fft.fftfreq(32, 1 / 32)
    y, x = torch.meshgrid(k, k, indexing="ij")
    scores = -((x - 1.3) ** 2 + (y + 2.4) ** 2)  # a paraboloid: exact for the parabola fit
    peak, best = map_peaks(scores[None])
    assert torch.allclose(peak[0], torch.tensor([1.3, -2.4]), atol=1e-4)


def test_running_average_is_the_windowed_mean() -> None:
    values = torch.randn(3, 7, 4)
    averaged = running_average(values, 3)
    expected = torch.stack([values[:, max(0, g - 1):g + 2].mean(1) for g in range(7)], dim=1)
    assert torch.allclose(averaged, expected, atol=1e-6)
    assert torch.equal(running_average(values, 1), values)


def test_offsets_of_every_frame_are_recovered() -> None:
    references = references_for(smooth_volume())
    n, groups = 12, 6
    angles = random_angles(n)
    rng = np.random.default_rng(4)
    priors = torch.from_numpy(rng.normal(scale=1.0, size=(n, 2)))
    true = priors[:, None] + torch.from_numpy(rng.normal(scale=0.8, size=(n, groups, 2)))
    frames = displaced_frames(references, angles, true, noise=0.5)
    result = align_frames(frames, angles, priors, np.zeros(n, np.int64), None, references,
                          AlignmentSettings(window=1, sigma_offset=5.0))
    error = (result.offsets.double() - true).norm(dim=-1)
    assert error.pow(2).mean().sqrt() < 0.15
    assert torch.equal(result.angles, angles[:, None].expand(n, groups, 3).float())


def test_the_prior_holds_offsets_where_frames_carry_no_signal() -> None:
    references = references_for(smooth_volume())
    angles = random_angles(4)
    priors = torch.tensor([[1.0, -2.0], [0.0, 0.5], [2.5, 2.5], [-1.0, 0.0]], dtype=torch.float64)
    frames = displaced_frames(references, angles, priors[:, None].expand(4, 3, 2), noise=0.0) * 0.0
    frames = frames + torch.randn(frames.shape, generator=torch.Generator().manual_seed(1))
    result = align_frames(frames, angles, priors, np.zeros(4, np.int64), None, references,
                          AlignmentSettings(window=1, sigma_offset=0.3))
    assert (result.offsets.double() - priors[:, None]).norm(dim=-1).max() < 1.0


def test_rotational_search_finds_a_perturbed_orientation() -> None:
    references = references_for(smooth_volume(1))
    true_angles = random_angles(3, seed=2)
    offsets = torch.zeros((3, 1, 2), dtype=torch.float64)
    frames = displaced_frames(references, true_angles, offsets, noise=0.05)
    start = true_angles.clone()
    start[:, 1] += 8.0  # tilt off by one search step
    result = align_frames(frames, start, offsets[:, 0], np.zeros(3, np.int64), None, references,
                          AlignmentSettings(window=1, sigma_offset=2.0, sigma_angles=8.0))
    assert torch.allclose(result.angles[:, 0].double(), true_angles, atol=1e-3)
