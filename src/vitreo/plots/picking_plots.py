"""Logfiles of the picking jobs: distributions of figures of merit and Z-scores, picks per micrograph."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from vitreo.io.atomic import atomic_path


def plot_picking_log(path: str | os.PathLike[str], values: Mapping[str, np.ndarray], value_label: str,
                     title: str) -> None:
    """A PDF page: the histogram of ``values`` over all micrographs and the count per micrograph."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array([len(v) for v in values.values()])
    every = np.concatenate([np.asarray(v, float) for v in values.values()]) if values else np.empty(0)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 8))
    fig.suptitle(title)
    top.hist(every, bins=min(100, max(10, every.size // 20)) if every.size else 10, color="steelblue")
    top.set_xlabel(value_label)
    top.set_ylabel("particles")
    top.set_title(f"{every.size} particles on {len(counts)} micrographs")
    bottom.bar(np.arange(1, len(counts) + 1), counts, color="darkorange")
    bottom.set_xlabel("micrograph (in input order)")
    bottom.set_ylabel("particles")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="pdf")
    plt.close(fig)


__all__ = ["plot_picking_log"]
