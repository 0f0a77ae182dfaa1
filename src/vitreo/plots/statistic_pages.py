"""A PDF page showing one figure per micrograph: its values in micrograph order and, for more than
three micrographs, its histogram (as RELION's logfiles show rlnAccumMotionTotal, rlnDefocusU...)."""

from __future__ import annotations

from typing import Any

import numpy as np


def add_statistic_page(pdf: Any, label: str, values: np.ndarray) -> None:
    """Append the page for ``label`` to an open ``PdfPages``."""
    import matplotlib.pyplot as plt

    values = np.asarray(values, dtype=float)
    columns = 2 if len(values) > 3 else 1
    fig, axes = plt.subplots(1, columns, figsize=(11, 4.5), squeeze=False)
    axes[0, 0].plot(np.arange(1, len(values) + 1), values, marker=".", lw=0.8)
    axes[0, 0].set_xlabel("micrograph")
    axes[0, 0].set_ylabel(label)
    axes[0, 0].set_title(f"{label} for all micrographs")
    if columns == 2:
        finite = values[np.isfinite(values)]
        axes[0, 1].hist(finite, bins=min(30, max(5, len(finite) // 3)), color="grey")
        axes[0, 1].set_xlabel(label)
        axes[0, 1].set_title("histogram")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


__all__ = ["add_statistic_page"]
