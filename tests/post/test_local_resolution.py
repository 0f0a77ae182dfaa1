"""Local resolution: worse where the half-maps are noisier; the batched window tools against direct computation."""

from __future__ import annotations

import pytest
import torch

from tests.post.synthetic import gaussian_snr, noisy_halves, pseudo_atomic_map
from vitreo.em.fsc import crossing_shells, resolution_at
from vitreo.post.local_resolution import (
    LocalResolutionSettings,
    _CroppedSpectrum,
    _Windows,
    local_resolution,
    sampling_positions,
)
from vitreo.post.sharpening import shell_response

BOX, PIXEL = 64, 2.0


@pytest.fixture(scope="module")
def truth() -> torch.Tensor:
    return pseudo_atomic_map(BOX, PIXEL, 24, 100.0)


def test_noisier_side_has_worse_local_resolution(truth) -> None:
    x = torch.arange(BOX) - BOX // 2
    envelope = torch.where(x > 0, 3.0, 1.0).expand(BOX, BOX, BOX)  # 9× the noise power for x > 0
    result = local_resolution(*noisy_halves(truth, PIXEL, gaussian_snr(50, 5.0), envelope=envelope), PIXEL)
    positions = result.positions - BOX // 2
    quiet = result.resolutions[positions[:, 2] < -4]
    noisy = result.resolutions[positions[:, 2] > 4]
    assert len(quiet) >= 8 and len(noisy) >= 8
    assert float(noisy.mean()) > float(quiet.mean()) + 0.5
    assert float(noisy.median()) > 1.1 * float(quiet.median())
    inside = result.resolution_map > 0
    left, right = result.resolution_map[:, :, : BOX // 2 - 8], result.resolution_map[:, :, BOX // 2 + 8:]
    assert float(right[right > 0].median()) > 1.1 * float(left[left > 0].median())
    assert float(result.resolution_map[inside].min()) >= 2 * PIXEL
    assert float(result.filtered.abs().max()) > 0


def test_uniform_noise_gives_a_narrow_spread(truth) -> None:
    result = local_resolution(*noisy_halves(truth, PIXEL, gaussian_snr(50, 5.0)), PIXEL,
                              LocalResolutionSettings(bfactor=-50))
    values = result.resolutions
    assert float(values.std()) < 0.1 * float(values.mean())
    assert 3.5 < float(values.median()) < 8.0


def test_sampling_positions_follow_relion() -> None:
    positions = sampling_positions(64, 12, 6) - 32
    assert positions.min() >= -32 and positions.max() <= 31
    assert (positions.double().norm(dim=1) < 26).all()
    assert {int(v) for v in positions[:, 0].unique()} <= {-32 + 12 * i for i in range(6)}
    axis = range(-32, 32, 12)  # RELION: from xinit = -N/2 in steps, inside radius N/2 - mask radius
    expected = [(z, y, x) for z in axis for y in axis for x in axis if (z * z + y * y + x * x) ** 0.5 < 26]
    assert sorted(map(tuple, positions.tolist())) == sorted(expected)


def test_windowed_inverse_matches_the_full_inverse_transform() -> None:
    generator = torch.Generator().manual_seed(3)
    box, size = 32, 12
    volume = torch.randn((box,) * 3, generator=generator)
    tables = torch.rand((3, box // 2 + 1), generator=generator)
    tables[:, 10:] = 0
    windows = _Windows(torch.tensor([[16, 16, 16], [2, 5, 30], [31, 0, 7]]), box, size)
    got = _CroppedSpectrum(torch.fft.rfftn(volume), 10).windows(tables, windows.starts, size)
    full = torch.fft.irfftn(torch.fft.rfftn(volume) * shell_response(tables, (box,) * 3), s=(box,) * 3,
                            dim=(-3, -2, -1))
    for b in range(3):
        expected = full[b].roll(tuple((-windows.starts[b]).tolist()), (0, 1, 2))[:size, :size, :size]
        torch.testing.assert_close(got[b], expected, atol=1e-5, rtol=0)


def test_crossing_shells_agree_with_resolution_at() -> None:
    generator = torch.Generator().manual_seed(0)
    curves = torch.sort(torch.rand((5, 33), generator=generator), descending=True).values
    curves[4] = 1.0  # never drops: Nyquist
    shells = crossing_shells(curves, 0.143)
    for curve, shell in zip(curves, shells):
        assert 64 * 1.5 / float(shell) == pytest.approx(resolution_at(curve, 0.143, 1.5, 64))
