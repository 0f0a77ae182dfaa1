"""Frame alignment kernels: sub-pixel CCF peaks, iterative stack alignment, frame groups, trajectory smoothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vitreo.em.filters import lowpass
from vitreo.em.fourier import phase_shift
from vitreo.preprocess.alignment import align_stack, alignment_grid, crop_spectra, prepare_spectra, taper_window
from vitreo.preprocess.ccf_peak import coarse_peaks, refine_peaks
from vitreo.preprocess.frame_groups import FrameGroups
from vitreo.preprocess.trajectory import smooth_trajectory


def _moved_frames(shifts: torch.Tensor, n: int = 256, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Frames of one smooth random image, frame f moved so that +shifts[f] aligns it (RELION's sign)."""
    generator = torch.Generator().manual_seed(seed)
    image = lowpass(torch.randn(n, n, generator=generator), 6.0, 1.0) * 10
    spectra = phase_shift(torch.fft.rfft2(image).expand(len(shifts), -1, -1), -shifts, (n, n))
    frames = torch.fft.irfft2(spectra, s=(n, n))
    return frames + noise * torch.randn(frames.shape, generator=generator)


def test_refined_ccf_peak_is_sub_pixel_accurate() -> None:
    truth = torch.tensor([[0.0, 0.0], [3.37, -1.62]])
    spectra = torch.fft.rfft2(_moved_frames(truth))
    product = spectra[0] * spectra[1].conj()  # its peak is the shift that aligns frame 1 on frame 0
    start, spacing = coarse_peaks(product, (256, 256), (256, 256), max_shift=50)
    peak = refine_peaks(product, (256, 256), (256, 256), start, spacing)
    assert torch.allclose(peak, truth[1], atol=0.02)


def test_stack_alignment_recovers_shifts_relative_to_the_first_frame() -> None:
    truth = torch.cumsum(torch.tensor([[0.0, 0.0]] + [[0.9, -0.4]] * 11), dim=0) + 0.3 * torch.randn(12, 2)
    truth -= truth[0].clone()
    frames = _moved_frames(truth, noise=2.0)
    grid = alignment_grid((256, 256), 50.0)
    spectra = prepare_spectra(crop_spectra(torch.fft.rfft2(frames), (256, 256), grid), grid)
    result = align_stack(spectra, (256, 256), grid, 50.0, max_shift=40)
    error = (result.shifts - truth).square().sum(-1).mean().sqrt()
    assert error < 0.1
    assert result.rmsd[-1] < result.rmsd[0]


def test_batched_stacks_align_independently() -> None:
    first = torch.tensor([[0.0, 0.0], [1.5, 0.5], [3.0, 1.0], [4.5, 1.5]])
    second = -first
    frames = torch.stack([_moved_frames(first, 128, seed=1), _moved_frames(second, 128, seed=2)])
    grid = alignment_grid((128, 128), 20.0)
    spectra = prepare_spectra(crop_spectra(torch.fft.rfft2(frames), (128, 128), grid), grid)
    result = align_stack(spectra, (128, 128), grid, 20.0, max_shift=20)
    assert torch.allclose(result.shifts, torch.stack([first, second]), atol=0.1)


def test_taper_rises_from_zero_to_one_at_the_edges() -> None:
    window = taper_window((64, 32))
    assert window[32, 16] == 1.0 and window[0, 0] < 0.01
    assert torch.all(window >= 0) and torch.all(window <= 1)


@pytest.mark.parametrize(("n_frames", "size", "sizes"), [(16, 1, [1] * 16), (10, 3, [3, 3, 4]), (19, 5, [5, 7, 7])])
def test_frame_groups_never_enlarge_the_first_group(n_frames: int, size: int, sizes: list[int]) -> None:
    groups = FrameGroups.make(n_frames, size)
    assert groups.sizes.tolist() == sizes and groups.n_frames == n_frames
    assert groups.membership().sum(0).tolist() == [1.0] * n_frames


def test_group_shifts_interpolate_linearly_to_frames() -> None:
    groups = FrameGroups.make(12, 3)  # centres 1, 4, 7, 10
    per_frame = groups.interpolate(np.array([[0.0, 0.0], [3.0, 6.0], [6.0, 12.0], [9.0, 18.0]]))
    assert np.allclose(per_frame[:, 0], np.arange(12) - 1.0) and np.allclose(per_frame[:, 1], 2 * per_frame[:, 0])


def test_too_few_frames_for_three_groups_is_refused() -> None:
    with pytest.raises(ValueError, match="too few frames"):
        FrameGroups.make(5, 2)


def test_smoothing_removes_noise_but_keeps_a_fast_early_drift() -> None:
    rng = np.random.default_rng(0)
    z = np.arange(24.0)
    clean = np.stack([8 * (1 - np.exp(-z / 3)), 0.2 * z], axis=1)
    noisy = clean + rng.normal(0, 0.3, clean.shape)
    smooth = smooth_trajectory(noisy)
    assert np.sqrt(np.mean((smooth - clean) ** 2)) < 0.8 * np.sqrt(np.mean((noisy - clean) ** 2))
    line = np.stack([z, -2 * z], axis=1)
    assert np.allclose(smooth_trajectory(line), line, atol=1e-6)
