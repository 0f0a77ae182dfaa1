"""Projection of a reference by central-slice extraction in Fourier space (RELION's Projector).

A 2D projection along z of a volume (z, y, x) in orientation A is the central slice
F2(k) = F3(Aᵀ·(kx, ky, 0)), equivalently the z-sum of the rotated volume v'(r) = v(Aᵀ r). For a 2D
reference image (y, x) and a 2×2 matrix A the same formula gives its rotation out(r) = ref(Aᵀ r)
(RELION 2D classification uses the in-plane block of the Euler matrix, A = Rz(psi)[:2, :2]).
Outputs are rfft of images centred at M//2, so ``torch.fft.irfftn`` gives the image directly.
"""

from __future__ import annotations

import torch

from vitreo.em.gridding import (
    centred_rfft,
    centring_sign,
    extract_slices,
    extract_values,
    padded_size,
    slice_pixels,
    to_compact,
)


class Projector:
    """A reference (volume (N, N, N) or image (N, N)) prepared once for many projections.

    The reference is divided by the apodisation of linear interpolation (gridding pre-correction),
    zero-padded by ``padding`` and Fourier transformed; slices are interpolated (bi/trilinearly)
    from that padded grid. Values are those of the unnormalised DFT of an N-box projection.
    """

    def __init__(self, reference: torch.Tensor, padding: float = 2.0) -> None:
        if reference.dim() not in (2, 3):
            raise ValueError(f"reference must be an image (y, x) or a volume (z, y, x), got {tuple(reference.shape)}")
        if not reference.is_floating_point():
            reference = reference.float()
        self.ndim = reference.dim()
        self.size = reference.shape[-1]
        self.padded = padded_size(self.size, padding)
        self.grid = to_compact(centred_rfft(reference, self.ndim, self.padded), self.ndim)

    @property
    def device(self) -> torch.device:
        return self.grid.device

    @property
    def dtype(self) -> torch.dtype:
        """Real dtype of the projections' components."""
        return self.grid.real.dtype

    def project(
        self,
        rotations: torch.Tensor,
        image_size: int | None = None,
        max_radius: float | None = None,
        chunk_elements: int | None = None,
    ) -> torch.Tensor:
        """Central slices for rotations (..., D, D) -> (..., M, M//2+1) complex.

        ``image_size`` M (default N) gives a Fourier-cropped output: the same frequencies k/N
        cycles per pixel for |k| ≤ M/2, i.e. the rfft of the projection downsampled to M pixels
        (see ``fourier.fourier_resize``; at |k| = M/2 the slice holds F(k) itself, not the folded
        Nyquist bin). Pixels beyond ``max_radius`` (Fourier pixels, default min(M, N)/2) are zero.
        Work is chunked to ``chunk_elements`` (slices × pixels × 2^D).
        """
        if rotations.shape[-2:] != (self.ndim, self.ndim):
            raise ValueError(f"expected rotations (..., {self.ndim}, {self.ndim}), got {tuple(rotations.shape)}")
        m = self.size if image_size is None else image_size
        radius = min(m, self.size) / 2 if max_radius is None else min(max_radius, self.size / 2)
        batch = rotations.shape[:-2]
        rotations = rotations.reshape(-1, self.ndim, self.ndim).to(device=self.device, dtype=self.dtype)
        pixels = slice_pixels(m, radius, self.device, self.dtype)
        slices = extract_slices(self.grid, self.ndim, rotations, pixels, self.padded / self.size, chunk_elements)
        return slices.reshape(*batch, m, m // 2 + 1)

    def project_pixels(self, rotations: torch.Tensor, coords: torch.Tensor, chunk_elements: int | None = None) -> torch.Tensor:
        """Central-slice values (B, P) complex at the Fourier pixels ``coords`` (P, 2) = (kx, ky)
        of the N box (kx ≥ 0), for rotations (B, D, D): those of :meth:`project` at the same pixels,
        without the image grid around them."""
        rotations = rotations.reshape(-1, self.ndim, self.ndim).to(device=self.device, dtype=self.dtype)
        coords = coords.to(device=self.device, dtype=self.dtype)
        return extract_values(self.grid, self.ndim, rotations, coords, centring_sign(coords), self.padded / self.size,
                              chunk_elements)
