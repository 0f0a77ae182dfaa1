"""The Fourier pixels the likelihood uses: the rfft half-plane of an N-box image within a radius.

Pixels are listed flat, sorted by shell round(|k|) (k in Fourier pixels of the N box), so the set
for a smaller radius is a prefix of the set for a larger one: the coarse pass of the E-step
simply uses the first ``count(coarse_size)`` pixels. An image of "current size" M (RELION's
current_size) holds the shells 0 … M/2 − 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FourierPixels:
    """rfft pixels of an N-box with shell < M/2, sorted by shell.

    ``index`` (F,) flat index into the (N, N//2+1) rfft grid; ``coords`` (F, 2) float (kx, ky)
    in Fourier pixels (kx ≥ 0, ky signed); ``shell`` (F,) int64; ``likelihood_weight`` (F,):
    how much each pixel counts in the likelihood — 0 at the origin (as RELION), 0.5 on the
    kx = 0 column (each Friedel pair appears twice there), 1 elsewhere.
    """

    box: int
    size: int
    index: torch.Tensor
    coords: torch.Tensor
    shell: torch.Tensor
    likelihood_weight: torch.Tensor

    @classmethod
    def for_size(cls, box: int, size: int, device: torch.device | str | None = None) -> FourierPixels:
        """Pixels of an N = ``box`` image with shells 0 … size/2 − 1 (``size`` even, ≤ box)."""
        size = min(int(size), box)
        ky = torch.fft.fftfreq(box, 1.0 / box, dtype=torch.float64)
        kx = torch.arange(box // 2 + 1, dtype=torch.float64)
        grid_y, grid_x = torch.meshgrid(ky, kx, indexing="ij")
        shell = torch.round(torch.sqrt(grid_x**2 + grid_y**2)).long().reshape(-1)
        inside = torch.nonzero(shell < size // 2).squeeze(-1)
        order = torch.argsort(shell[inside] * (box * box) + inside)  # by shell, then grid order
        index = inside[order]
        coords = torch.stack([grid_x.reshape(-1)[index], grid_y.reshape(-1)[index]], dim=-1)
        weight = torch.where(coords[:, 0] == 0, 0.5, 1.0)
        weight[shell[index] == 0] = 0.0
        return cls(
            box,
            size,
            index.to(device),
            coords.to(device=device, dtype=torch.float32),
            shell[index].to(device),
            weight.to(device=device, dtype=torch.float32),
        )

    def __len__(self) -> int:
        return int(self.index.numel())

    def count(self, size: int) -> int:
        """Number of leading pixels that belong to the smaller image size ``size``."""
        return int(torch.searchsorted(self.shell, torch.tensor(min(size, self.size) // 2, device=self.shell.device)))

    def gather(self, rfft: torch.Tensor) -> torch.Tensor:
        """Values (..., F) of rfft arrays (..., N, N//2+1)."""
        return rfft.reshape(*rfft.shape[:-2], -1)[..., self.index]

    def grid_index(self, size: int, count: int | None = None) -> torch.Tensor:
        """Flat index of the first ``count`` pixels (default all) in the rfft grid (size, size//2+1)
        of a cropped image; those pixels must lie in shells < size/2."""
        count = len(self) if count is None else count
        if count > self.count(size):
            raise ValueError(f"a {size}-pixel grid cannot hold the first {count} pixels")
        kx = self.coords[:count, 0].long()
        ky = self.coords[:count, 1].long() % size
        return ky * (size // 2 + 1) + kx

    def gather_from(self, rfft: torch.Tensor, count: int | None = None) -> torch.Tensor:
        """Values (..., count) of the first ``count`` pixels from cropped rfft arrays (..., M, M//2+1)."""
        return rfft.reshape(*rfft.shape[:-2], -1)[..., self.grid_index(rfft.shape[-2], count)]

    def scatter(self, values: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """rfft arrays (..., M, M//2+1) holding ``values`` (..., F) and zeros elsewhere (M default ``size``)."""
        m = self.size if size is None else size
        out = values.new_zeros(*values.shape[:-1], m * (m // 2 + 1))
        out[..., self.grid_index(m)] = values
        return out.reshape(*values.shape[:-1], m, m // 2 + 1)

    def shell_sums(self, values: torch.Tensor) -> torch.Tensor:
        """Sums of ``values`` (..., F) per shell: (..., size//2)."""
        out = values.new_zeros(*values.shape[:-1], self.size // 2)
        return out.index_add_(-1, self.shell, values)

    def shell_counts(self) -> torch.Tensor:
        """Number of pixels per shell (size//2,), float32."""
        return self.shell_sums(torch.ones(len(self), device=self.shell.device))

    def phases(self, offsets: torch.Tensor) -> torch.Tensor:
        """exp(−2πi k·d/N) (T, F) complex64 for offsets d (T, 2) = (x, y) pixels.

        Multiplying a transform by row t shifts its image by +d_t (``fourier.shift_phases``).
        """
        angle = (offsets.to(self.coords) @ self.coords.T) * (-2.0 * math.pi / self.box)
        return torch.polar(torch.ones_like(angle), angle)


def shell_resolution(shell: float, box: int, pixel_size: float) -> float:
    """Resolution (Å) of Fourier shell ``shell`` of an N-box: N·pixel_size/shell (inf at 0)."""
    return math.inf if shell <= 0 else box * pixel_size / shell


def resolution_shell(resolution: float, box: int, pixel_size: float) -> int:
    """The Fourier shell (rounded) at ``resolution`` Å in an N-box, capped at N/2."""
    if resolution <= 0 or not math.isfinite(resolution):
        return 0
    return min(box // 2, round(box * pixel_size / resolution))
