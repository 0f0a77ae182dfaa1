"""FSC curves against resolution, as RELION's post-processing plots them."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from vitreo.io.atomic import atomic_path


def plot_fsc(
    path: str | os.PathLike[str],
    curves: Mapping[str, np.ndarray],
    pixel_size: float,
    box: int,
    thresholds: Sequence[float] = (0.143,),
) -> None:
    """Write a figure of each curve (N//2+1 shells) against resolution 1/Å, with Å tick labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shells = np.arange(box // 2 + 1)
    frequency = shells / (box * pixel_size)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in curves.items():
        ax.plot(frequency, np.asarray(values), label=label.removeprefix("rln"))
    for level in thresholds:
        ax.axhline(level, color="grey", lw=0.8, ls="--")
    ax.set_ylim(-0.1, 1.05)
    ax.set_xlim(0, frequency[-1])
    ticks = ax.get_xticks()[1:]
    ax.set_xticks(ticks, [f"{1 / t:.1f}" for t in ticks])
    ax.set_xlabel("resolution (Å)")
    ax.set_ylabel("FSC")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1], dpi=120)
    plt.close(fig)
