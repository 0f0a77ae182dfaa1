"""Patch-based (local) alignment of globally aligned frames, as RELION's own motion correction.

The frame is cut into ``patch_x`` × ``patch_y`` tiles of (ny // patch_y, nx // patch_x)
pixels made even (RELION's patch geometry: tile i starts at i·size before the even
correction); each tile's frame groups are aligned exactly like whole frames, all tiles in
one batch. The tiles are cut from the frame groups already cropped to the alignment band
(the same field of view on a coarser grid, ``scale`` movie pixels per pixel), which loses
nothing the B-factor weighting would keep. Centres and shifts are reported in movie pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitreo.preprocess.alignment import Alignment, align_stack, prepare_spectra

MIN_PATCHES = 3  # RELION skips local alignment with 2 or fewer patches along an axis
MAX_LOCAL_SHIFT_A = 20.0  # largest shift searched per iteration after global alignment, Å ...
MIN_LOCAL_SHIFT_PX = 4.0  # ... but never less than this many pixels


@dataclass(frozen=True)
class PatchGrid:
    """Tile geometry: starts (py, px arrays), even tile size (h, w), and the stride between starts."""

    starts_y: np.ndarray
    starts_x: np.ndarray
    size: tuple[int, int]
    stride: tuple[int, int]

    @classmethod
    def make(cls, shape: tuple[int, int], patches: tuple[int, int]) -> PatchGrid:
        """Tiles over frames of ``shape`` (ny, nx) for ``patches`` = (patch_x, patch_y)."""
        stride_y, stride_x = shape[0] // patches[1], shape[1] // patches[0]
        height, width = stride_y - stride_y % 2, stride_x - stride_x % 2
        return cls(np.arange(patches[1]) * stride_y, np.arange(patches[0]) * stride_x, (height, width),
                   (stride_y, stride_x))

    @property
    def n_patches(self) -> int:
        return len(self.starts_y) * len(self.starts_x)

    def centres(self, scale: tuple[float, float] = (1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
        """Patch centres (x, y), row by row (y outer, x inner), each (P,), in pixels of an image
        ``scale`` = (sy, sx) times finer than the tiled one (integers, as RELION reports them)."""
        cy = np.floor((self.starts_y + self.size[0] / 2.0) * scale[0] - 0.5).astype(np.int64)
        cx = np.floor((self.starts_x + self.size[1] / 2.0) * scale[1] - 0.5).astype(np.int64)
        gy, gx = np.meshgrid(cy, cx, indexing="ij")
        return gx.ravel(), gy.ravel()

    def ranges(self, scale: tuple[float, float] = (1.0, 1.0)) -> list[tuple[int, int, int, int]]:
        """(x_start, x_end, y_start, y_end) of each tile, row by row, in pixels ``scale`` times finer."""
        return [(int(round(x * scale[1])), int(round((x + self.size[1]) * scale[1])),
                 int(round(y * scale[0])), int(round((y + self.size[0]) * scale[0])))
                for y in self.starts_y for x in self.starts_x]

    def cut(self, images: torch.Tensor) -> torch.Tensor:
        """Tiles of images (G, ny, nx) as (P, G, h, w), row by row."""
        (h, w), (sy, sx) = self.size, self.stride
        tiles = images.unfold(-2, h, sy).unfold(-2, w, sx)  # (G, py, px, h, w)
        tiles = tiles[:, : len(self.starts_y), : len(self.starts_x)]
        return tiles.permute(1, 2, 0, 3, 4).reshape(self.n_patches, images.shape[0], h, w)


def align_patches(group_images: torch.Tensor, grid: PatchGrid, scale: tuple[float, float], bfactor: float,
                  pixel_size: float) -> Alignment:
    """Align the frame groups (G, H, W) of every tile: shifts (P, G, 2) in movie pixels relative to group 0.

    ``scale`` = (sy, sx) movie pixels per pixel of ``group_images``; ``bfactor`` in movie px²;
    ``pixel_size`` (Å) of the movie bounds the search (local motion after global alignment is
    small; a wide search only lets noise peaks win in weak patches).
    """
    tiles = grid.cut(group_images)
    tile_shape = (grid.size[0] * scale[0], grid.size[1] * scale[1])  # movie pixels
    spectra = prepare_spectra(torch.fft.rfft2(tiles), grid.size)
    max_shift = min(max(MIN_LOCAL_SHIFT_PX, MAX_LOCAL_SHIFT_A / pixel_size), 0.25 * min(tile_shape))
    return align_stack(spectra, tile_shape, grid.size, bfactor, max_shift=max_shift)


__all__ = ["PatchGrid", "align_patches", "MIN_PATCHES"]
