"""PostProcess's logfile.pdf (FSC curves, Guinier plot) and LocalRes's histogram.pdf, as RELION draws them.

FSC colours follow relion_postprocess: corrected black (thick), unmasked green, masked blue,
phase-randomised masked red. The x axis is resolution in 1/Å with Å tick labels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from vitreo.io.atomic import atomic_path

FSC_STYLES = {
    "rlnFourierShellCorrelationCorrected": ("corrected", "black", 2.0),
    "rlnFourierShellCorrelationUnmaskedMaps": ("unmasked maps", "green", 1.0),
    "rlnFourierShellCorrelationMaskedMaps": ("masked maps", "blue", 1.0),
    "rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps": ("phase-randomised masked maps", "red", 1.0),
}
GUINIER_STYLES = {
    "rlnLogAmplitudesOriginal": ("original", "black"),
    "rlnLogAmplitudesMTFCorrected": ("MTF-corrected", "green"),
    "rlnLogAmplitudesWeighted": ("FSC-weighted", "blue"),
    "rlnLogAmplitudesSharpened": ("sharpened", "red"),
    "rlnLogAmplitudesIntercept": ("fitted intercept", "grey"),
}


def write_postprocess_logfile(
    path: str | os.PathLike[str], fsc: Mapping[str, np.ndarray], guinier: Mapping[str, np.ndarray],
    pixel_size: float, box: int, resolution: float, bfactor: float, fit_range: tuple[float, float] | None = None,
) -> None:
    """Two pages: the FSC curves (``fsc`` keyed by RELION label) and the Guinier plot (``guinier`` columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    frequency = np.arange(box // 2 + 1) / (box * pixel_size)
    with atomic_path(path) as tmp, PdfPages(tmp) as pdf:
        fig, ax = plt.subplots(figsize=(8, 5))
        for label, values in fsc.items():
            name, colour, width = FSC_STYLES.get(label, (label.removeprefix("rln"), None, 1.0))
            ax.plot(frequency, np.asarray(values), color=colour, lw=width, label=name)
        ax.axhline(0.143, color="grey", lw=0.8, ls="--")
        ax.axhline(0.0, color="grey", lw=0.5)
        ax.set_xlim(0, frequency[-1])
        ax.set_ylim(-0.1, 1.05)
        _angstrom_ticks(ax)
        ax.set_xlabel("resolution (Å)")
        ax.set_ylabel("Fourier shell correlation")
        ax.set_title(f"Final resolution = {resolution:.2f} Å")
        ax.legend(loc="lower left")
        ax.grid(alpha=0.3)
        pdf.savefig(fig)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(8, 5))
        s2 = np.asarray(guinier["rlnResolutionSquared"])
        for label, (name, colour) in GUINIER_STYLES.items():
            if label in guinier:
                values = np.asarray(guinier[label], dtype=float)
                shown = values > -99
                ax.plot(s2[shown], values[shown], color=colour, label=name, ls="--" if "Intercept" in label else "-")
        if fit_range is not None:
            for resolution_limit in fit_range:
                ax.axvline(1.0 / resolution_limit**2, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("resolution² (1/Å²)")
        ax.set_ylabel("ln(amplitudes)")
        ax.set_title(f"Guinier plots (B-factor used for sharpening: {bfactor:.1f} Å²)")
        ax.legend()
        ax.grid(alpha=0.3)
        pdf.savefig(fig)
        plt.close(fig)


def write_resolution_histogram(path: str | os.PathLike[str], resolutions: np.ndarray, title: str) -> None:
    """A histogram of local resolutions (Å), e.g. of the voxels inside the user's mask."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    values = np.asarray(resolutions, dtype=float)
    ax.hist(values[np.isfinite(values)], bins=40, color="steelblue")
    ax.set_xlabel("local resolution (Å)")
    ax.set_ylabel("voxels")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="pdf")
    plt.close(fig)


def _angstrom_ticks(ax) -> None:  # type: ignore[no-untyped-def]
    ticks = [t for t in ax.get_xticks() if 0 < t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks, [f"{1 / t:.1f}" for t in ticks])


__all__ = ["write_postprocess_logfile", "write_resolution_histogram"]
