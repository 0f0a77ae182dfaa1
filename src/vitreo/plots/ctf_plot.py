"""CtfFind's logfile.pdf: each CTF figure over all micrographs, and its histogram (more than 3 micrographs),
for the labels RELION plots (defocus U, angle, astigmatism, max resolution, phase shift, FOM, ice ring)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from vitreo.io.atomic import atomic_path
from vitreo.plots.statistic_pages import add_statistic_page


def write_ctf_logfile(path: str | os.PathLike[str], columns: Mapping[str, Sequence[float]]) -> None:
    """One page per label in ``columns`` (values per micrograph)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages

    with atomic_path(path) as tmp, PdfPages(tmp) as pdf:
        for label, values in columns.items():
            add_statistic_page(pdf, label, values)


__all__ = ["write_ctf_logfile"]
