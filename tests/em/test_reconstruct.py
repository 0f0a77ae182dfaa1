"""Back-projection and reconstruction: round trips, CTF weighting, ML regularisation, SSNR."""

from __future__ import annotations

import math

import mrcfile
import pytest
import torch

from vitreo.em.backprojector import BackProjector, _smooth, ssnr_from_fsc
from vitreo.em.fourier import power_spectrum
from vitreo.em.fsc import fsc
from vitreo.em.geometry import euler_to_matrix, random_rotations
from vitreo.em.projector import Projector


def smooth_map(n: int, ndim: int, seed: int) -> torch.Tensor:
    """Band-limited random density inside a sphere of radius n/3 (float32, centre n//2)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn((n,) * ndim, generator=g, dtype=torch.float64)
    axis = torch.arange(n, dtype=torch.float64) - n // 2
    r = torch.linalg.vector_norm(torch.stack(torch.meshgrid(*([axis] * ndim), indexing="ij")), dim=0)
    k = torch.fft.fftfreq(n, dtype=torch.float64)
    k2 = sum(m**2 for m in torch.meshgrid(*([k] * ndim), indexing="ij"))
    smooth = torch.fft.ifftn(torch.fft.fftn(noise) * torch.exp(-k2 / (2 * 0.15**2))).real
    return (smooth * torch.sigmoid(n / 3 - r)).float()


def in_plane(angles: torch.Tensor) -> torch.Tensor:
    """RELION 2D rotation matrices: the in-plane block of the Euler matrix for psi = angles."""
    zero = torch.zeros_like(angles)
    return euler_to_matrix(zero, zero, angles)[:, :2, :2]


@pytest.fixture(scope="module")
def betagal(shared_data) -> tuple[torch.Tensor, BackProjector]:
    """betaGal (100³, 3.54 Å/px) and a back-projector holding 5,000 noise-free projections."""
    volume = torch.from_numpy(mrcfile.read(shared_data / "maps" / "betaGal.mrc").astype("float32"))
    rotations = random_rotations(5000, torch.Generator().manual_seed(0), dtype=torch.float32)
    backprojector = BackProjector(volume.shape[-1])
    projector = Projector(volume)
    for batch in rotations.split(1000):
        backprojector.insert(projector.project(batch), batch)
    return volume, backprojector


@pytest.mark.parametrize("method", ["gridding", "division", "tau2"])
def test_betagal_round_trip(betagal, method):
    """FSC ≥ 0.9 with the original up to 0.8 Nyquist (shell 40 of 100), at the original scale."""
    volume, backprojector = betagal
    n = volume.shape[-1]
    if method == "tau2":
        tau2 = backprojector.tau2_from_fsc(torch.full((n // 2 + 1,), 0.99))
        result = backprojector.reconstruct(tau2=tau2)
    else:
        result = backprojector.reconstruct(method=method)
    assert result.shape == volume.shape and result.dtype == torch.float32
    curve = fsc(result, volume)
    assert curve[1 : int(0.8 * n / 2) + 1].min() >= 0.9
    assert (result * volume).sum() / volume.square().sum() == pytest.approx(1.0, abs=0.02)


def test_ctf_weighted_insertion_recovers_map():
    """Slices CTF·P with weights CTF² (random defoci, zeros included) reconstruct the map."""
    n = 48
    volume = smooth_map(n, 3, seed=1)
    rotations = random_rotations(1500, torch.Generator().manual_seed(1), dtype=torch.float32)
    ky = torch.fft.fftfreq(n, 1 / n)
    kx = torch.arange(n // 2 + 1.0)
    r2 = ky[:, None] ** 2 + kx**2
    scale = 0.002 + 0.01 * torch.rand(1500, 1, 1, generator=torch.Generator().manual_seed(2))
    ctf = torch.sin(scale * r2 + 0.1)
    backprojector = BackProjector(n)
    backprojector.insert(ctf * Projector(volume).project(rotations), rotations, ctf.square())
    curve = fsc(backprojector.reconstruct(), volume)
    assert curve[1 : int(0.8 * n / 2) + 1].min() >= 0.9


def test_sparse_data_reconstruct_without_nan():
    """Five slices leave most of a 16³ grid without data: gridding keeps those voxels at 0, not NaN,
    and the slices' own content comes back (each slice's plane agrees with the map's)."""
    n = 16
    volume = smooth_map(n, 3, seed=5)
    rotations = random_rotations(5, torch.Generator().manual_seed(5), dtype=torch.float32)
    backprojector = BackProjector(n)
    slices = Projector(volume).project(rotations)
    backprojector.insert(slices, rotations)
    for method in ("gridding", "division"):
        result = backprojector.reconstruct(method=method)
        assert torch.isfinite(result).all(), method
        again = Projector(result).project(rotations)  # rfft slices (5, n, n//2+1)
        ky, kx = torch.fft.fftfreq(n, 1 / n), torch.arange(n // 2 + 1.0)
        low = (ky[:, None] ** 2 + kx**2) < (n / 4) ** 2
        a, b = again[:, low], slices[:, low]
        agreement = (a * b.conj()).real.sum(-1) / (a.abs().square().sum(-1) * b.abs().square().sum(-1)).sqrt()
        assert float(agreement.min()) > 0.8, (method, agreement)


def test_class_average_2d():
    """Rotated copies of an image inserted with their rotations average back to the image."""
    n = 64
    image = smooth_map(n, 2, seed=3)
    rotations = in_plane(torch.rand(300, generator=torch.Generator().manual_seed(4)) * 2 * math.pi)
    backprojector = BackProjector(n, ndim=2)
    backprojector.insert(Projector(image).project(rotations), rotations)
    for method in ("gridding", "division"):
        average = backprojector.reconstruct(method=method)
        assert fsc(average, image)[1 : int(0.8 * n / 2) + 1].min() >= 0.99
        assert (average * image).sum() / image.square().sum() == pytest.approx(1.0, abs=0.02)


def test_wiener_regularisation_with_true_tau2_is_optimal():
    """With tau² = the true signal power, F = Σ X/σ² / (Σ 1/σ² + 1/tau²) has the lowest error."""
    n, copies, sigma = 64, 20, 3.0  # real-space noise σ per pixel: σ²·n² per Fourier coefficient
    g = torch.Generator().manual_seed(5)
    image = smooth_map(n, 2, seed=6).double()
    image = image / image.std()
    rotations = in_plane(torch.rand(copies, generator=g, dtype=torch.float64) * 2 * math.pi)
    clean = torch.fft.irfft2(Projector(image).project(rotations), s=(n, n))
    noisy = torch.fft.rfft2(clean + sigma * torch.randn(clean.shape, generator=g, dtype=torch.float64))
    inverse_noise = 1.0 / (sigma**2 * n * n)
    backprojector = BackProjector(n, ndim=2, dtype=torch.float64)
    backprojector.insert(noisy * inverse_noise, rotations, torch.full(noisy.shape, inverse_noise, dtype=torch.float64))
    tau2 = power_spectrum(image, 2)

    def error(result: torch.Tensor) -> float:
        return float((result - image).square().mean())

    error_ml = error(backprojector.reconstruct(tau2=tau2))
    assert error_ml < 0.7 * error(backprojector.reconstruct(method="division"))
    # the true tau² is the best one: a mis-scaled prior (e.g. padding^D off) does worse
    assert error_ml < min(error(backprojector.reconstruct(tau2=tau2 * f)) for f in (0.25, 4.0))
    assert backprojector.reconstruct(tau2=torch.zeros_like(tau2)).abs().max() < 1e-6


def test_mean_weight_and_tau2_from_fsc():
    """Mean weight per shell counts slices per unpadded voxel; tau² = SSNR / mean weight."""
    n, copies = 64, 200
    rotations = in_plane(torch.rand(copies, generator=torch.Generator().manual_seed(7)) * 2 * math.pi)
    backprojector = BackProjector(n, ndim=2)
    backprojector.insert(torch.zeros(copies, n, n // 2 + 1, dtype=torch.complex64), rotations)
    mean = backprojector.mean_weight()
    assert mean.shape == (n // 2 + 1,)
    torch.testing.assert_close(mean[2:-1], torch.full((n // 2 - 2,), float(copies)), rtol=0.05, atol=0)
    tau2 = backprojector.tau2_from_fsc(torch.full((n // 2 + 1,), 0.5), fudge=2.0)
    torch.testing.assert_close(tau2, 2.0 / mean)


def test_density_smoothing_is_a_full_grid_convolution():
    """The Pipe & Menon kernel acts on the half grid as [1, 4, 1]/6 on the full periodic grid."""
    x = torch.randn(8, 6, 10, dtype=torch.float64)
    full = torch.fft.fftn(x).abs() ** 2  # real and even, as weight sums are
    for d in range(3):
        full = (4 * full + torch.roll(full, 1, d) + torch.roll(full, -1, d)) / 6
    torch.testing.assert_close(_smooth(torch.fft.rfftn(x).abs() ** 2, 3), full[..., :6])


@pytest.mark.parametrize("symmetry", ["D2", "C3", "O"])
def test_symmetrised_sums_equal_inserting_every_symmetry_copy(symmetry: str) -> None:
    """Symmetrising the sums once (RELION's BackProjector::symmetrise) gives the map and weights
    of inserting each slice once per operator L at A·L: exactly where the operators map grid points
    to grid points (D2), to within the interpolation of the sums otherwise (C3, O)."""
    from vitreo.em.symmetry import proper_operators, symmetrise_volume

    n = 32
    volume = symmetrise_volume(smooth_map(n, 3, 5), symmetry)
    rotations = random_rotations(150, torch.Generator().manual_seed(2), dtype=torch.float32)
    slices = Projector(volume).project(rotations)
    operators = proper_operators(symmetry, torch.float32)
    copies, once = BackProjector(n), BackProjector(n)
    copies.insert(slices.repeat_interleave(len(operators), 0), (rotations[:, None] @ operators[None]).reshape(-1, 3, 3))
    once.insert(slices, rotations)
    once.symmetrise(symmetry)
    expected, got = copies.reconstruct(), once.reconstruct()
    correlation = float((expected * got).sum() / (expected.norm() * got.norm()))
    weight_ratio = once.mean_weight()[1 : n // 2] / copies.mean_weight()[1 : n // 2]
    assert correlation > (0.99999 if symmetry == "D2" else 0.999)
    assert float((weight_ratio - 1).abs().max()) < (1e-4 if symmetry == "D2" else 0.05)
    shells = slice(1, n // 2)
    assert float((fsc(got, volume)[shells] - fsc(expected, volume)[shells]).min()) > -0.02


def test_symmetrising_c1_changes_nothing() -> None:
    backprojector = BackProjector(16)
    rotations = random_rotations(20, torch.Generator().manual_seed(0), dtype=torch.float32)
    backprojector.insert(Projector(smooth_map(16, 3, 1)).project(rotations), rotations)
    before = backprojector.data.clone()
    backprojector.symmetrise("C1")
    assert torch.equal(before, backprojector.data)


def test_ssnr_from_fsc():
    f = torch.tensor([0.999999, 0.5, 0.143, 0.0, -0.2])
    expected = torch.tensor([999.0, 1.0, 0.143 / 0.857, 0.001 / 0.999, 0.001 / 0.999])
    torch.testing.assert_close(ssnr_from_fsc(f), expected, rtol=1e-4, atol=0)
    whole = math.sqrt(2 * 0.5 / 1.5)
    assert ssnr_from_fsc(torch.tensor([0.5]), whole_map=True).item() == pytest.approx(whole / (1 - whole))


def test_insert_chunking_merge_and_checks():
    n = 32
    volume = smooth_map(n, 3, seed=8)
    rotations = random_rotations(40, torch.Generator().manual_seed(9), dtype=torch.float32)
    slices = Projector(volume).project(rotations)
    one, two = BackProjector(n), BackProjector(n)
    one.insert(slices, rotations)
    two.insert(slices[:25], rotations[:25], chunk_elements=1)
    rest = BackProjector(n)
    rest.insert(slices[25:], rotations[25:])
    two.merge(rest)
    torch.testing.assert_close(two.data, one.data, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(two.weight, one.weight)
    with pytest.raises(ValueError):
        one.insert(slices, rotations[:, :2, :2])
    with pytest.raises(ValueError):
        one.reconstruct(method="magic")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    n = 32
    volume = smooth_map(n, 3, seed=10)
    rotations = random_rotations(50, torch.Generator().manual_seed(11), dtype=torch.float32)
    cpu = Projector(volume).project(rotations)
    gpu = Projector(volume.cuda()).project(rotations.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-2)
    backprojector = BackProjector(n, device="cuda")
    backprojector.insert(gpu, rotations.cuda())
    reference = BackProjector(n)
    reference.insert(cpu, rotations)
    torch.testing.assert_close(backprojector.reconstruct().cpu(), reference.reconstruct(), rtol=1e-3, atol=1e-4)
