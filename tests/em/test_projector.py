"""Projection-slice theorem and 2D rotation against analytic real-space references."""

from __future__ import annotations

import math

import pytest
import torch

from vitreo.em.fourier import fourier_resize, rfft_radius, rotation_matrix_2d, shell_index
from vitreo.em.fsc import fsc
from vitreo.em.geometry import euler_to_matrix, random_rotations
from vitreo.em.projector import Projector

N = 64


class GaussianPhantom:
    """Sum of anisotropic Gaussian blobs (ellipsoids) off-centre; evaluated at any points (x, y[, z])."""

    def __init__(self, ndim: int, n_blobs: int = 12, seed: int = 1) -> None:
        g = torch.Generator().manual_seed(seed)
        self.centres = (torch.rand(n_blobs, ndim, generator=g, dtype=torch.float64) - 0.5) * 24
        self.sigmas = 1.2 + torch.rand(n_blobs, ndim, generator=g, dtype=torch.float64) * 1.8
        self.amplitudes = 0.5 + torch.rand(n_blobs, generator=g, dtype=torch.float64)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        d = (points[..., None, :] - self.centres) / self.sigmas
        return (self.amplitudes * torch.exp(-0.5 * d.square().sum(-1))).sum(-1)


def grid_points(ndim: int) -> torch.Tensor:
    """Pixel coordinates (x, y[, z]) relative to the box centre N//2, shape (N,)*ndim + (ndim,)."""
    axis = torch.arange(N, dtype=torch.float64) - N // 2
    mesh = torch.meshgrid(*([axis] * ndim), indexing="ij")  # (z, y, x) order
    return torch.stack(mesh[::-1], dim=-1)


@pytest.fixture(scope="module")
def phantom3d() -> tuple[GaussianPhantom, torch.Tensor, torch.Tensor]:
    phantom = GaussianPhantom(3)
    points = grid_points(3)
    return phantom, points, phantom(points)


def test_projection_slice_theorem(phantom3d):
    """irfft of our slices = z-sum of the rotated volume v'(r) = v(Aᵀ r), FRC > 0.99 to 0.8 Nyquist.

    The rotated volume is the analytic phantom sampled at Aᵀ r (no real-space interpolation
    error). The opposite rotation v(A r) must fail, so the test decides the convention.
    """
    phantom, points, volume = phantom3d
    rotations = random_rotations(20, torch.Generator().manual_seed(2))
    images = torch.fft.irfftn(Projector(volume.float()).project(rotations.float()), s=(N, N))
    last = int(0.8 * N / 2)
    right, wrong = [], []
    for image, a in zip(images, rotations):
        right.append(fsc(image.double(), phantom(points @ a).sum(0))[1 : last + 1].min())  # rows Aᵀ r
        wrong.append(fsc(image.double(), phantom(points @ a.T).sum(0))[1 : last + 1].min())
    assert min(right) > 0.99
    assert sum(w < 0.5 for w in wrong) >= 18  # near-symmetric rotations (A ≈ Aᵀ) may pass either way


def test_projection_scale_and_dtype(phantom3d):
    """Slices carry unnormalised DFT values of the N-box projection; float64 in, complex128 out."""
    _, _, volume = phantom3d
    projector = Projector(volume)
    assert projector.dtype == torch.float64
    slices = projector.project(torch.eye(3, dtype=torch.float64).expand(2, 4, 3, 3))
    assert slices.shape == (2, 4, N, N // 2 + 1) and slices.dtype == torch.complex128
    expected = torch.fft.rfft2(volume.sum(0))
    inside = shell_index((N, N)) <= int(0.8 * N / 2)
    error = (slices[0, 0] - expected)[inside].abs().max() / expected.abs().max()
    assert error < 0.05  # at grid nodes linear interpolation has no blur: the sinc² pre-correction shows


def test_fourier_cropped_projection(phantom3d):
    """image_size M < N gives the Fourier crop of the full slice (same frequencies k/N).

    Inside |k| < M/2 only: at the Nyquist bin the slice holds F(-M/2), fourier_resize folds ±M/2.
    """
    _, _, volume = phantom3d
    projector = Projector(volume.float())
    rotations = random_rotations(3, torch.Generator().manual_seed(5)).float()
    full = projector.project(rotations, max_radius=16)
    cropped = projector.project(rotations, image_size=32)
    inside = rfft_radius((32, 32)) * 32 < 16
    expected = fourier_resize(full, (N, N), (32, 32))
    torch.testing.assert_close(cropped[:, inside], expected[:, inside], rtol=1e-4, atol=1e-2)
    assert full[:, rfft_radius((N, N)) * N > 16].abs().max() == 0


def test_projection_chunking_is_invisible(phantom3d):
    _, _, volume = phantom3d
    projector = Projector(volume.float())
    rotations = random_rotations(7, torch.Generator().manual_seed(3)).float()
    torch.testing.assert_close(projector.project(rotations, chunk_elements=1), projector.project(rotations))


def test_2d_reference_rotation():
    """A 2D Projector rotates its image: out(r) = ref(Aᵀ r), FRC > 0.99 to 0.8 Nyquist."""
    phantom = GaussianPhantom(2, seed=4)
    points = grid_points(2)
    angles = torch.rand(10, generator=torch.Generator().manual_seed(6), dtype=torch.float64) * 2 * math.pi
    rotations = euler_to_matrix(torch.zeros_like(angles), torch.zeros_like(angles), angles)[:, :2, :2]
    images = torch.fft.irfftn(Projector(phantom(points).float()).project(rotations.float()), s=(N, N))
    last = int(0.8 * N / 2)
    for image, a in zip(images, rotations):
        assert fsc(image.double(), phantom(points @ a))[1 : last + 1].min() > 0.99
    assert torch.allclose(rotations, rotation_matrix_2d(-angles))
