"""Log-likelihood maps of particle translations in movie frames, for all (particle, frame, shift)
at once by FFT.

For data X (rfft of a frame-group box) and reference R (CTF · projection, centred), Gaussian noise
of power σ²(k) per shell and a scale a fitted by least squares, the log-likelihood of the particle
being displaced by t pixels from the box centre is, up to a constant,
LL(t) = a · Σ_k Re(X(k) R*(k) e^{+2πi k·t}) / σ²(k) (sum over the full Fourier grid), which one
inverse FFT gives for every t on a grid of 1/``upsample`` pixel (the transform zero-padded, which
interpolates exactly). σ² and a are estimated from the residual X − a·R at the
prior displacement, over all particles and frames of a batch.
"""

from __future__ import annotations

import torch

from vitreo.em.fourier import fourier_resize, phase_shift, shell_index
from vitreo.em.fsc import shell_sums


def running_average(spectra: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over frames g' with |g' − g| ≤ window//2 (clipped at the ends) along dim 1."""
    half = max(window, 1) // 2
    if half == 0:
        return spectra
    n = spectra.shape[1]
    cumulative = torch.cat([torch.zeros_like(spectra[:, :1]), spectra.cumsum(1)], dim=1)
    g = torch.arange(n)
    low, high = (g - half).clamp(min=0), (g + half + 1).clamp(max=n)
    counts = (high - low).to(spectra.real.dtype).reshape(1, n, *([1] * (spectra.dim() - 2)))
    return (cumulative[:, high] - cumulative[:, low]) / counts


def noise_weights(data: torch.Tensor, references: torch.Tensor, prior_t: torch.Tensor,
                  max_shell: int | None = None) -> torch.Tensor:
    """a/σ²(k) on the rfft grid (N, N//2+1) for data (P, G, N, N//2+1) and references (P, N, N//2+1)
    placed at the prior displacements (P, 2) px; zero at DC and beyond ``max_shell``."""
    box = data.shape[-2]
    shells = shell_index((box, box), data.device)
    n_shells = box // 2 + 1
    placed = phase_shift(references, prior_t, (box, box))[:, None]
    cross = (data * placed.conj()).real.sum((0, 1))
    power = (placed.real.square() + placed.imag.square()).sum((0, 1))
    scale = (cross.sum() - cross[0, 0]) / (power.sum() - power[0, 0]).clamp_min(1e-30)
    residual = data - scale * placed
    energy = residual.real.square() + residual.imag.square()
    sigma2 = shell_sums(energy.sum((0, 1)), shells, n_shells) / shell_sums(
        torch.ones_like(energy[0, 0]), shells, n_shells).clamp_min(1) / (data.shape[0] * data.shape[1])
    weights = scale.clamp_min(0) / sigma2.clamp_min(1e-30)[shells.clamp(max=n_shells - 1)]
    keep = (shells > 0) & (shells < (n_shells if max_shell is None else max_shell + 1))
    return torch.where(keep, weights, torch.zeros_like(weights))


def likelihood_maps(data: torch.Tensor, references: torch.Tensor, weights: torch.Tensor, upsample: int = 1
                    ) -> torch.Tensor:
    """LL(t) (P, G, M, M), M = upsample·N, for displacements t on a grid of 1/upsample px (wrapped:
    index i is t = i/upsample, or (i − M)/upsample beyond M/2) of data (P, G, N, N//2+1) against
    references (P, N, N//2+1)."""
    box = data.shape[-2]
    product = data * (references.conj() * weights)[:, None]
    size = upsample * box
    if upsample > 1:
        product = fourier_resize(product, (box, box), (size, size))
    return torch.fft.irfft2(product, s=(size, size)) * float(size * size)


def shift_grid(box: int, upsample: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
    """Displacement (x, y) px of every index of a map from :func:`likelihood_maps`: (M, M, 2)."""
    size = upsample * box
    k = torch.fft.fftfreq(size, upsample / size, device=device)
    ty, tx = torch.meshgrid(k, k, indexing="ij")
    return torch.stack([tx, ty], dim=-1)


def map_peaks(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel argmax (x, y) (..., 2) of wrapped maps (..., N, N), by a parabola through the best
    pixel and its neighbours along each axis, and the best score (...)."""
    box = scores.shape[-1]
    flat = scores.reshape(*scores.shape[:-2], -1)
    best, index = flat.max(-1)
    iy, ix = index // box, index % box

    def at(dy: int, dx: int) -> torch.Tensor:
        flat_index = ((iy + dy) % box) * box + (ix + dx) % box
        return flat.gather(-1, flat_index[..., None])[..., 0]

    def vertex(minus: torch.Tensor, plus: torch.Tensor) -> torch.Tensor:
        curvature = minus + plus - 2.0 * best
        step = torch.where(curvature < 0, 0.5 * (minus - plus) / curvature.clamp(max=-1e-30), torch.zeros_like(best))
        return step.clamp(-0.5, 0.5)

    wrap = lambda i: torch.where(i >= box // 2, i - box, i).to(scores.dtype)  # noqa: E731
    x = wrap(ix) + vertex(at(0, -1), at(0, 1))
    y = wrap(iy) + vertex(at(-1, 0), at(1, 0))
    return torch.stack([x, y], dim=-1), best


__all__ = ["running_average", "noise_weights", "likelihood_maps", "shift_grid", "map_peaks"]
