"""Fourier tools: resampling, shifts, radial profiles, filters, rotation, display."""

from __future__ import annotations

import math

import pytest
import torch

from vitreo.em.fourier import (
    centred_spectrum,
    fourier_resize,
    phase_shift,
    power_spectrum,
    radial_average,
    rescale,
    rfft_frequencies,
    rfft_radius,
    rotate_rfft,
    shell_index,
    shift_phases,
)


def gaussian(n: int, sigma: float, centre: tuple[float, ...], dtype=torch.float64) -> torch.Tensor:
    """Gaussian on an n^D grid, centre given as (x, y[, z]) in pixels."""
    axis = torch.arange(n, dtype=dtype)
    mesh = torch.meshgrid(*([axis] * len(centre)), indexing="ij")[::-1]  # (x, y[, z])
    r2 = sum((m - c) ** 2 for m, c in zip(mesh, centre))
    return torch.exp(-r2 / (2 * sigma**2))


def test_frequency_grids():
    k = rfft_frequencies((6, 8))
    assert k.shape == (6, 5, 2)
    assert k[1, 0, 0] == pytest.approx(1 / 6) and k[0, 4, 1] == pytest.approx(0.5)
    assert shell_index((8, 8, 8))[0, 0, 3] == 3
    assert rfft_radius((4, 4))[2, 2].item() == pytest.approx(math.sqrt(0.5))


@pytest.mark.parametrize("shape", [(32, 32), (16, 16, 16), (20, 24)])
def test_fourier_pad_then_crop_is_identity(shape):
    x = torch.randn(3, *shape, dtype=torch.float64)
    big = tuple(2 * n for n in shape)
    up = rescale(x, big)
    torch.testing.assert_close(rescale(up, shape), x)
    torch.testing.assert_close(up.mean(dim=tuple(range(1, up.dim()))), x.mean(dim=tuple(range(1, x.dim()))))
    # the padded spectrum is Hermitian: an rfft round trip keeps it
    f = fourier_resize(torch.fft.rfftn(x, dim=tuple(range(1, x.dim()))), shape, big)
    dims = tuple(range(1, x.dim()))
    torch.testing.assert_close(torch.fft.rfftn(torch.fft.irfftn(f, s=big, dim=dims), dim=dims), f)


def test_rescale_keeps_centre_and_pixel_size_ratio():
    """Downsampling 64 -> 32 halves lengths about the box centre N//2 and keeps values."""
    x = gaussian(64, 4.0, (32.0, 32.0))
    y = rescale(x, (32, 32))
    torch.testing.assert_close(y, gaussian(32, 2.0, (16.0, 16.0)), atol=1e-6, rtol=0)
    z = rescale(gaussian(32, 3.0, (16.0, 16.0, 16.0)), (48, 48, 48))
    torch.testing.assert_close(z, gaussian(48, 4.5, (24.0, 24.0, 24.0)), atol=1e-5, rtol=0)


def test_integer_shift_equals_roll():
    x = torch.randn(4, 16, 20)
    shifts = torch.tensor([[1.0, 0.0], [-3.0, 2.0], [5.0, -7.0], [0.0, 0.0]])  # (dx, dy)
    f = phase_shift(torch.fft.rfft2(x), shifts, (16, 20))
    shifted = torch.fft.irfft2(f, s=(16, 20))
    for image, moved, (dx, dy) in zip(x, shifted, shifts.long().tolist()):
        torch.testing.assert_close(moved, torch.roll(image, (dy, dx), (0, 1)), atol=1e-5, rtol=0)
    v = torch.randn(8, 10, 12, dtype=torch.float64)
    f3 = phase_shift(torch.fft.rfftn(v), torch.tensor([2.0, -1.0, 3.0]), (8, 10, 12))
    torch.testing.assert_close(torch.fft.irfftn(f3, s=(8, 10, 12)), torch.roll(v, (3, -1, 2), (0, 1, 2)))


def test_subpixel_shift_moves_gaussian():
    x = gaussian(32, 2.0, (16.0, 16.0))
    shifts = torch.tensor([[0.5, -1.25], [2.3, 0.7]], dtype=torch.float64)
    moved = torch.fft.irfft2(phase_shift(torch.fft.rfft2(x), shifts, (32, 32)), s=(32, 32))
    for image, (dx, dy) in zip(moved, shifts.tolist()):
        torch.testing.assert_close(image, gaussian(32, 2.0, (16 + dx, 16 + dy)), atol=1e-8, rtol=0)
    assert shift_phases(torch.zeros(5, 3, 2), (8, 8)).shape == (5, 3, 8, 5)


def test_radial_average_of_radial_functions():
    shape = (32, 32, 32)
    shells = shell_index(shape).double()
    values = torch.stack([shells**2, torch.ones_like(shells)])  # batch of two
    profile = radial_average(values, shape)
    assert profile.shape == (2, 17)
    torch.testing.assert_close(profile[0], torch.arange(17, dtype=torch.float64) ** 2)
    # each rfft voxel stands for its Friedel mate too: same as averaging the full grid
    x = torch.randn(2, *shape, dtype=torch.float64)
    full = torch.fft.fftn(x, dim=(1, 2, 3)).abs() ** 2
    k = torch.fft.fftfreq(32, 1 / 32)
    r = torch.linalg.vector_norm(torch.stack(torch.meshgrid(k, k, k, indexing="ij")), dim=0)
    s = torch.round(r.double()).long().reshape(-1)
    keep = s < 17
    sums = torch.zeros(2, 17, dtype=torch.float64).index_add_(1, s[keep], full.reshape(2, -1)[:, keep])
    expected = sums / torch.bincount(s[keep], minlength=17)
    torch.testing.assert_close(radial_average(torch.fft.rfftn(x, dim=(1, 2, 3)).abs() ** 2, shape), expected)


def test_power_spectrum_of_white_noise():
    noise = 2.0 * torch.randn(16, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    spectrum = power_spectrum(noise, 2).mean(0)
    assert spectrum.shape == (33,)
    torch.testing.assert_close(spectrum[8:], torch.full((25,), 4.0 * 64 * 64, dtype=torch.float64), rtol=0.2, atol=0)
    assert abs(spectrum[1:].mean() / (4.0 * 64 * 64) - 1) < 0.05


def test_rotate_rfft_quarter_turn_and_gaussian():
    """90° about N//2 equals a rotated array; general angles move an off-centre blob correctly."""
    n = 32
    x = gaussian(n, 2.0, (20.0, 13.0)) + gaussian(n, 1.5, (9.0, 18.0))
    angles = torch.tensor([math.pi / 2, 0.7])
    out = torch.fft.irfft2(rotate_rfft(torch.fft.rfft2(x).expand(2, -1, -1), angles), s=(n, n))
    # (x, y) -> (-y, x) about the centre 16: out[y, x] = in[32 - x, y]
    quarter = torch.roll(torch.rot90(x, 1, (1, 0)), 1, 1)
    c, s = math.cos(0.7), math.sin(0.7)
    blobs = [(2.0, 4.0, -3.0), (1.5, -7.0, 2.0)]  # sigma and (x, y) relative to the centre
    moved = sum(gaussian(n, sig, (16 + c * bx - s * by, 16 + s * bx + c * by)) for sig, bx, by in blobs)
    for image, expected in zip(out, (quarter, moved)):
        assert torch.corrcoef(torch.stack([image.flatten(), expected.flatten()]))[0, 1] > 0.999
        # linear interpolation blurs less at grid nodes than the sinc² correction assumes (few %)
        torch.testing.assert_close(image, expected, atol=0.05, rtol=0)


def test_centred_spectrum_matches_fftshift():
    x = torch.randn(2, 6, 8, 10, dtype=torch.float64)
    full = torch.fft.fftshift(torch.fft.fftn(x, dim=(-3, -2, -1)), dim=(-3, -2, -1))
    torch.testing.assert_close(centred_spectrum(torch.fft.rfftn(x, dim=(-3, -2, -1)), (6, 8, 10)), full)
    power = torch.fft.rfft2(x[0, 0]).abs() ** 2
    torch.testing.assert_close(centred_spectrum(power, (8, 10)), torch.fft.fftshift(torch.fft.fft2(x[0, 0]).abs() ** 2))
