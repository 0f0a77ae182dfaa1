"""MotionCorr's logfile.pdf: accumulated motion over all micrographs, then every movie's shift traces.

As RELION draws them: for each movie, the global trajectory (blue, from the frame centre,
scaled ×40, first frame marked red) and at each patch the observed (grey) and fitted (black)
local trajectories scaled the same way; y grows downwards, as the image is displayed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vitreo.io.atomic import atomic_path
from vitreo.plots.statistic_pages import add_statistic_page

TRACE_SCALE = 40.0


@dataclass(frozen=True)
class MovieTrace:
    """One movie's page: its name, frame size (nx, ny), global shifts (F, 2) px, and patch traces
    (centres (P, 2), observed and fitted (P, F_p, 2)) or None."""

    name: str
    size: tuple[int, int]
    shifts: np.ndarray
    patch_centres: np.ndarray | None = None
    observed: np.ndarray | None = None
    fitted: np.ndarray | None = None


def write_motion_logfile(path: str | os.PathLike[str], statistics: dict[str, Sequence[float]],
                         traces: Sequence[MovieTrace]) -> None:
    """Write the PDF: one page per statistic (value per micrograph, and its histogram when there
    are more than 3), then one page per movie."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with atomic_path(path) as tmp, PdfPages(tmp) as pdf:
        for label, values in statistics.items():
            add_statistic_page(pdf, label, np.asarray(values, dtype=float))
        for trace in traces:
            _trace_page(plt, pdf, trace)


def _trace_page(plt: object, pdf: object, trace: MovieTrace) -> None:
    nx, ny = trace.size
    fig, ax = plt.subplots(figsize=(7.5, 7.5 * ny / max(nx, 1)))  # type: ignore[attr-defined]
    centre = np.array([nx / 2.0, ny / 2.0])
    path = centre + TRACE_SCALE * trace.shifts
    ax.plot(path[:, 0], path[:, 1], color="blue", lw=1.0)
    ax.plot(path[0, 0], path[0, 1], "o", color="red", ms=4)
    if trace.patch_centres is not None and trace.observed is not None and trace.fitted is not None:
        for centre_p, observed, fitted in zip(trace.patch_centres, trace.observed, trace.fitted):
            obs = centre_p + TRACE_SCALE * observed
            fit = centre_p + TRACE_SCALE * fitted
            ax.plot(obs[:, 0], obs[:, 1], color="0.6", lw=0.7)
            ax.plot(fit[:, 0], fit[:, 1], color="black", lw=0.8)
            ax.plot(fit[0, 0], fit[0, 1], "o", color="red", ms=2)
    ax.set_xlim(0, nx)
    ax.set_ylim(ny, 0)
    ax.set_aspect("equal")
    ax.set_xlabel(f"X (in pixels; trajectory scaled by {TRACE_SCALE:.0f})")
    ax.set_ylabel(f"Y (in pixels; trajectory scaled by {TRACE_SCALE:.0f})")
    ax.set_title(trace.name, fontsize=8)
    fig.tight_layout()
    pdf.savefig(fig)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[attr-defined]


__all__ = ["MovieTrace", "write_motion_logfile", "TRACE_SCALE"]
