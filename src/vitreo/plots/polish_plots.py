"""Polish's logfile.pdf: per micrograph the particles' measured tracks (grey) and fitted tracks
(red), scaled ×25 about each particle's position as RELION draws them; then the per-frame
B-factors and scale factors (Guinier intercepts) and each frame's relative Guinier plot."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vitreo.io.atomic import atomic_path

TRACK_SCALE = 25.0
MAX_TRACK_PAGES = 20


@dataclass(frozen=True)
class TrackPage:
    """One micrograph: particle positions (P, 2) px, measured and fitted offsets (P, G, 2) px."""

    name: str
    positions: np.ndarray
    measured: np.ndarray
    fitted: np.ndarray


@dataclass(frozen=True)
class BfactorPlot:
    """Per frame group: its first movie frame, B-factor, intercept, and Guinier points (s², value)."""

    frames: np.ndarray
    bfactors: np.ndarray
    intercepts: np.ndarray
    points: Sequence[tuple[np.ndarray, np.ndarray]]


def write_polish_logfile(path: str | os.PathLike[str], pages: Sequence[TrackPage],
                         bfactors: BfactorPlot | None) -> None:
    """Write the PDF (at most MAX_TRACK_PAGES micrograph pages)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.collections import LineCollection

    with atomic_path(path) as tmp, PdfPages(tmp) as pdf:
        if bfactors is not None:
            for values, label in ((bfactors.bfactors, "B-factor (Å²)"), (bfactors.intercepts, "Scale factor")):
                fig, ax = plt.subplots(figsize=(7, 4.5))
                ax.plot(bfactors.frames, values, "o-", color="black")
                ax.set_xlabel("movie frame")
                ax.set_ylabel(label)
                ax.set_title(f"Polishing {label.split(' (')[0].lower()}s")
                fig.tight_layout()
                pdf.savefig(fig)
                plt.close(fig)
        for page in pages[:MAX_TRACK_PAGES]:
            fig, ax = plt.subplots(figsize=(7.5, 7.5))
            for tracks, colour in ((page.measured, "0.6"), (page.fitted, "red")):  # (P, G, 2) each
                xy = page.positions[:, None] + TRACK_SCALE * (tracks - tracks.mean(1, keepdims=True))
                ax.add_collection(LineCollection(list(xy), colors=colour, linewidths=0.8))
            ax.autoscale_view()
            ax.invert_yaxis()
            ax.set_aspect("equal")
            ax.set_xlabel(f"X-coordinate (px; tracks scaled by {TRACK_SCALE:.0f})")
            ax.set_ylabel("Y-coordinate (px)")
            ax.set_title(page.name, fontsize=8)
            fig.tight_layout()
            pdf.savefig(fig)
            plt.close(fig)
        if bfactors is not None:
            for frame, b, c, (s2, values) in zip(bfactors.frames, bfactors.bfactors, bfactors.intercepts,
                                                 bfactors.points):
                fig, ax = plt.subplots(figsize=(7, 4.5))
                ax.plot(s2, values, "o", color="black", ms=3)
                if np.isfinite(b) and len(s2):
                    ax.plot(s2, c + b / 4.0 * s2, color="red", label=f"B = {b:.1f} Å²")
                    ax.legend()
                ax.set_xlabel("resolution² (1/Å²)")
                ax.set_ylabel("ln(relative amplitude)")
                ax.set_title(f"Guinier plot frame {frame}")
                fig.tight_layout()
                pdf.savefig(fig)
                plt.close(fig)


__all__ = ["TrackPage", "BfactorPlot", "write_polish_logfile", "TRACK_SCALE"]
