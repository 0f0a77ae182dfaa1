"""Back-projection into a padded Fourier grid and reconstruction (RELION's BackProjector).

Slices are inserted at F3(Aᵀ·(kx, ky, 0)) (3D) or F2(Aᵀ·k) (2D class averages), the adjoint of
:class:`vitreo.em.projector.Projector`, by linear interpolation onto a grid padded by ``padding``.
Two sums are kept: data Σ w·X and weight Σ w·W, with X the slice (typically CTF·image/σ²) and W
its weight (typically CTF²/σ²). Units: |F|² of the unnormalised DFT of the N-box map; tau² (the
signal power per Fourier coefficient) is in the same units and the weights in those of 1/σ².
"""

from __future__ import annotations

import torch

from vitreo.em.fourier import rfft_frequencies, rfft_radius
from vitreo.em.gridding import (
    CHUNK_ELEMENTS,
    centred_irfft,
    chunk_length,
    from_compact,
    negate_frequencies,
    padded_size,
    point_stencil,
    slice_pixels,
    slice_stencil,
    to_accumulator,
    to_compact,
)
from vitreo.em.symmetry import proper_operators


def ssnr_from_fsc(fsc: torch.Tensor, whole_map: bool = False) -> torch.Tensor:
    """Spectral SNR per shell from an FSC between half-maps: SSNR = FSC / (1 - FSC).

    The FSC is clipped to [0.001, 0.999]. With ``whole_map`` the SNR of the map from both halves
    is returned, from FSC' = sqrt(2·FSC / (1 + FSC)) (as RELION).
    """
    f = fsc.clamp(min=0.001)
    if whole_map:
        f = torch.sqrt(2.0 * f / (1.0 + f))
    f = f.clamp(max=0.999)
    return f / (1.0 - f)


class BackProjector:
    """Accumulates weighted slices into a padded Fourier grid of a volume (ndim=3) or image (ndim=2)."""

    def __init__(
        self,
        size: int,
        ndim: int = 3,
        padding: float = 2.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if ndim not in (2, 3) or size % 2:
            raise ValueError(f"need an even box and ndim 2 or 3, got size={size}, ndim={ndim}")
        self.size, self.ndim = size, ndim
        self.padded = padded_size(size, padding)
        shape = (self.padded + 2,) * (ndim - 1) + (self.padded // 2 + 2,)
        self.data = torch.zeros(shape, device=device, dtype=dtype.to_complex())
        self.weight = torch.zeros(shape, device=device, dtype=dtype)

    @property
    def scale(self) -> float:
        """Grid units per Fourier pixel of the N box (padded / N)."""
        return self.padded / self.size

    def insert(
        self,
        slices: torch.Tensor,
        rotations: torch.Tensor,
        weights: torch.Tensor | None = None,
        max_radius: float | None = None,
        chunk_elements: int | None = None,
    ) -> None:
        """Add slices (B, M, M//2+1) complex in orientations (B, D, D) with weights (B, M, M//2+1).

        Slices are rfft of images centred at M//2, at frequencies k/N cycles per pixel (M ≤ N is
        a Fourier-cropped slice); weights default to 1. Pixels beyond ``max_radius`` Fourier
        pixels (default M/2) are skipped. Work is chunked to ``chunk_elements``.
        """
        n, m = slices.shape[0], slices.shape[-2]
        if rotations.shape != (n, self.ndim, self.ndim):
            raise ValueError(f"expected rotations ({n}, {self.ndim}, {self.ndim}), got {tuple(rotations.shape)}")
        real = self.weight.dtype
        device = self.weight.device
        radius = min(m, self.size) / 2 if max_radius is None else min(max_radius, self.size / 2)
        pixels = slice_pixels(m, radius, device, real)
        # kx = 0 holds both members of each Friedel pair: count each half.
        fraction = torch.where(pixels.coords[:, 0] == 0, 0.5, 1.0).to(real)
        data_factor = pixels.sign * fraction
        slices = slices.reshape(n, -1).to(device=device, dtype=self.data.dtype)
        rotations = rotations.to(device=device, dtype=real)
        if weights is not None:
            weights = torch.broadcast_to(weights, (n, m, m // 2 + 1)).reshape(n, -1).to(device=device, dtype=real)
        data_flat, weight_flat = self.data.view(-1), self.weight.view(-1)
        step = chunk_length(pixels.index.numel(), self.ndim, chunk_elements)
        for start in range(0, n, step):
            stop = min(n, start + step)
            index, corner, flip = slice_stencil(pixels, rotations[start:stop], self.scale, self.data.shape)
            values = slices[start:stop, pixels.index] * data_factor
            values = torch.where(flip, values.conj(), values)
            wts = fraction if weights is None else weights[start:stop, pixels.index] * fraction
            index = index.reshape(-1)
            data_flat.index_add_(0, index, (values * corner).reshape(-1))
            weight_flat.index_add_(0, index, (wts * corner).reshape(-1))

    def symmetrise(self, symmetry: str, chunk_elements: int | None = None) -> None:
        """Apply the point group's proper operators L to the sums (RELION's BackProjector::symmetrise):
        data and weight at each frequency q become Σ_L D(L·q) and Σ_L W(L·q), by linear interpolation.

        This is what inserting every slice once per operator, with rotation A·L, would give (up to
        the interpolation of the sums), for the cost of one pass over the grid. Call it once, after
        the last insertion (it is linear: symmetrising parts and merging them is the same).
        Frequencies beyond N/2 are cleared. 3D only; C1 leaves the sums as they are.
        """
        operators = proper_operators(symmetry, self.weight.dtype, self.weight.device)
        if len(operators) == 1:
            return
        if self.ndim != 3:
            raise ValueError("only 3D sums can be symmetrised")
        data, weight = self._sums()  # rfft layout, Hermitian on the kx = 0 plane
        source_data, source_weight = to_compact(data, 3).reshape(-1), to_compact(weight, 3).reshape(-1)
        voxels = torch.nonzero((self._shells() <= self.size // 2).reshape(-1)).squeeze(-1)
        grid = rfft_frequencies((self.padded,) * 3, self.weight.device, self.weight.dtype).reshape(-1, 3)
        new_data, new_weight = torch.zeros_like(data).reshape(-1), torch.zeros_like(weight).reshape(-1)
        budget = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
        step = max(1, budget // (len(operators) * 8))
        for chosen in voxels.split(step):
            q = grid[chosen].flip(-1).T * self.padded  # (3, V): x, y, z in grid units
            index, corner, flip = point_stencil(torch.matmul(operators, q).unbind(1), tuple(self.data.shape))
            values = (source_data[index] * corner).sum(0)
            new_data[chosen] = torch.where(flip, values.conj(), values).sum(0)
            new_weight[chosen] = (source_weight[index] * corner).sum(0).sum(0)
        new_data, new_weight = new_data.reshape(data.shape), new_weight.reshape(weight.shape)
        new_data[..., 0] *= 0.5  # _sums adds the Friedel mates of the kx = 0 plane back
        new_weight[..., 0] *= 0.5
        self.data, self.weight = to_accumulator(new_data, 3), to_accumulator(new_weight, 3)

    def merge(self, other: BackProjector) -> None:
        """Add the sums of another back-projector of the same geometry (e.g. from another worker)."""
        if other.data.shape != self.data.shape or other.size != self.size:
            raise ValueError("cannot merge back-projectors of different box, padding or dimension")
        self.data += other.data.to(self.data.device)
        self.weight += other.weight.to(self.weight.device)

    def _sums(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Data and weight sums in rfft layout (padded^D half), Hermitian on the kx = 0 plane."""
        data, weight = from_compact(self.data, self.ndim), from_compact(self.weight, self.ndim)
        dims = tuple(range(-(self.ndim - 1), 0))  # the full axes of a kx plane
        data[..., 0] = data[..., 0] + negate_frequencies(data[..., 0], dims).conj()
        weight[..., 0] = weight[..., 0] + negate_frequencies(weight[..., 0], dims)
        return data, weight

    def _shells(self) -> torch.Tensor:
        """Shell index round(|k|) of each grid voxel, in Fourier pixels of the N box."""
        shape = (self.padded,) * self.ndim
        return torch.round(rfft_radius(shape, self.weight.device, torch.float64) * self.size).long()

    def mean_weight(self) -> torch.Tensor:
        """Average accumulated weight per shell (N//2+1,), in units of an unpadded grid.

        The padded grid holds padding^D times fewer samples per voxel, which is corrected for.
        """
        _, weight = self._sums()
        shells = self._shells().reshape(-1)
        n_shells = self.size // 2 + 1
        keep = torch.nonzero(shells < n_shells).squeeze(-1)
        sums = torch.zeros(n_shells, device=weight.device, dtype=weight.dtype).index_add_(
            0, shells[keep], weight.reshape(-1)[keep]
        )
        counts = torch.bincount(shells[keep], minlength=n_shells).to(weight.dtype)
        return sums / counts.clamp(min=1) * self.scale**self.ndim

    def tau2_from_fsc(self, fsc: torch.Tensor, whole_map: bool = False, fudge: float = 1.0) -> torch.Tensor:
        """Signal power per shell tau² = fudge · SSNR / <weight> for ML reconstruction (N//2+1,).

        ``fsc`` (N//2+1,) is the FSC between half-maps (see :func:`ssnr_from_fsc`).
        """
        ssnr = ssnr_from_fsc(fsc.to(self.weight.device, self.weight.dtype), whole_map)
        mean = self.mean_weight()
        return torch.where(mean > 0, fudge * ssnr / mean.clamp(min=torch.finfo(mean.dtype).tiny), 0.0)

    def reconstruct(
        self,
        tau2: torch.Tensor | None = None,
        method: str = "gridding",
        iterations: int = 10,
        floor: float = 1e-3,
    ) -> torch.Tensor:
        """Map (N,)*D from the sums; real-space centre at N//2, same scale as the inserted data.

        With ``tau2`` (shells of the N box, (N//2+1,)) the regularised ML/Wiener estimate
        F = Σ wX / (Σ wW + 1/tau²) is used, with the sums per unpadded voxel as in
        :meth:`mean_weight` (tau² = 0 forces F = 0). ``method`` "gridding" then
        normalises by Pipe & Menon density compensation (``iterations``, as RELION's iterative
        gridding); "division" divides by the weight clamped to ``floor`` × its mean.
        Frequencies beyond N/2 are zeroed; the result is gridding-corrected (÷ sinc²).
        """
        data, weight = self._sums()
        shells = self._shells()
        inside = shells <= self.size // 2
        if tau2 is not None:
            tau2 = tau2.to(device=weight.device, dtype=weight.dtype)
            prior = tau2[shells.clamp(max=tau2.numel() - 1)]
            tiny = torch.finfo(weight.dtype).tiny ** 0.5
            weight = weight + 1.0 / (self.scale**self.ndim * prior.clamp(min=tiny))
        if method == "gridding":
            values = data * _density_compensation(weight, inside, iterations, self.ndim)
        elif method == "division":
            limit = floor * weight[inside].mean()
            values = data / weight.clamp(min=float(limit) if limit > 0 else 1.0)
        else:
            raise ValueError(f"unknown reconstruction method {method!r}")
        values = torch.where(inside, values, 0)
        return centred_irfft(values, self.ndim, self.size)


def _smooth(grid: torch.Tensor, ndim: int) -> torch.Tensor:
    """Convolve an even real rfft-layout grid with [1, 4, 1]/6 along every axis (cubic B-spline).

    Full axes wrap around; on the half axis the neighbours of kx = 0 and of the last plane are
    the Friedel mates of kx = 1 and of the plane before last.
    """
    for d in range(-ndim, 0):
        n = grid.shape[d]
        out = grid * 4.0
        out.narrow(d, 1, n - 1).add_(grid.narrow(d, 0, n - 1))
        out.narrow(d, 0, n - 1).add_(grid.narrow(d, 1, n - 1))
        if d < -1:
            out.narrow(d, 0, 1).add_(grid.narrow(d, n - 1, 1))
            out.narrow(d, n - 1, 1).add_(grid.narrow(d, 0, 1))
        else:
            plane_dims = tuple(range(-ndim, -1))
            out[..., :1].add_(negate_frequencies(grid[..., 1:2], plane_dims))
            out[..., -1:].add_(negate_frequencies(grid[..., -2:-1], plane_dims))
        grid = out
    return grid.div_(6.0**ndim)


def _density_compensation(weight: torch.Tensor, inside: torch.Tensor, iterations: int, ndim: int) -> torch.Tensor:
    """Pipe & Menon (1999) weights s with (s·W) ⊛ C ≈ 1 inside the sphere (RELION's iterative gridding).

    Starts from s = 1/mean(W), so the result does not depend on the units of W. Voxels without
    data (W = 0) keep s = 0: their own term never enters their convolution, so s would grow
    without bound there (to inf, and inf · 0 = NaN in the map).
    """
    active = inside & (weight > 0)
    mean = weight[active].mean() if bool(active.any()) else weight.new_tensor(1.0)
    s = active.to(weight.dtype) / mean
    for _ in range(iterations):
        s = torch.where(active, s / _smooth(s * weight, ndim).clamp(min=1e-6), 0.0)
    return s
