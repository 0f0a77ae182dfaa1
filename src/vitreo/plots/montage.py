"""Montages of images (class averages, projections) as small greyscale PNG files."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vitreo.io.atomic import atomic_path


def montage(images: np.ndarray, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """Tile images (n, y, x) into one array, each scaled to [0, 1] by its own 1st–99th percentile;
    gaps are 1 (white)."""
    n, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    out = np.ones((rows * (height + gap) - gap, columns * (width + gap) - gap), dtype=np.float32)
    for i, image in enumerate(images):
        low, high = np.percentile(image, [1, 99])
        scaled = np.clip((image - low) / (high - low), 0, 1) if high > low else np.zeros_like(image)
        r, c = divmod(i, columns)
        out[r * (height + gap) : r * (height + gap) + height, c * (width + gap) : c * (width + gap) + width] = scaled
    return out


def save_montage(
    path: str | os.PathLike[str],
    images: np.ndarray,
    columns: int | None = None,
    labels: Sequence[str] | None = None,
    scale: int = 2,
) -> Path:
    """Write a montage PNG (atomically), each pixel enlarged ``scale`` times, with optional labels
    under the images (e.g. class number and population)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tiled = montage(np.asarray(images, dtype=np.float32), columns)
    height, width = tiled.shape
    dpi = 100
    fig = plt.figure(figsize=(width * scale / dpi, height * scale / dpi + (0.15 if labels else 0)), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(tiled, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if labels:
        n, h, w = images.shape
        cols = columns or math.ceil(math.sqrt(n))
        for i, text in enumerate(labels):
            r, c = divmod(i, cols)
            ax.text(c * (w + 2) + 1, r * (h + 2) + h - 2, text, color="yellow", fontsize=6, va="bottom")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path
