"""Synthetic data with ground truth: potentials from atomic models, micrographs, movies.

The public names below are imported on first use (PEP 562), so importing a light submodule
such as :mod:`vitreo.simulate.config` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PRESETS": "vitreo.simulate.presets",
    "preset": "vitreo.simulate.presets",
    "SimulationConfig": "vitreo.simulate.config",
    "SimulatedDataset": "vitreo.simulate.dataset",
    "simulate_dataset": "vitreo.simulate.dataset",
    "density_from_model": "vitreo.simulate.density",
    "read_model": "vitreo.simulate.density",
    "default_structure": "vitreo.simulate.structures",
    "default_structure_map": "vitreo.simulate.structures",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vitreo.simulate' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
