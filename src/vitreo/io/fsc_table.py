"""FSC curves as RELION's data_fsc table (rlnSpectralIndex, rlnResolution, rlnAngstromResolution, ...)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from vitreo.io.star import Table


def fsc_table(curves: Mapping[str, np.ndarray], pixel_size: float, box: int) -> Table:
    """One row per Fourier shell i = 0..N//2: resolution i/(N·pixel) in 1/Å and its inverse in Å
    (shell 0 is written as 999 Å and 1/999 Å⁻¹, as RELION does), then each curve under its RELION label, e.g.
    ``{"rlnFourierShellCorrelation": fsc}``."""
    n_shells = box // 2 + 1
    index = np.arange(n_shells)
    angstrom = np.divide(box * pixel_size, index, out=np.full(n_shells, 999.0), where=index > 0)
    resolution = 1.0 / angstrom
    columns: dict[str, np.ndarray] = {
        "rlnSpectralIndex": index,
        "rlnResolution": resolution,
        "rlnAngstromResolution": angstrom,
    }
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (n_shells,):
            raise ValueError(f"{label} has {values.shape} values, expected {n_shells} shells")
        columns[label] = values
    return Table.from_columns(columns)
