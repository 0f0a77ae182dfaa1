"""Named parameter sets: ``tiny`` for tests, ``quick`` for the demo, ``tutorial`` for the RELION 2.1 tutorial's data.

``tutorial`` is the dataset of the RELION 2.1 tutorial (EMPIAR-10017 as distributed): 15
movies of 2048² px at 3.54 Å/px (a Falcon II at 1.77 Å/px binned twice), 16 frames of
1 e/Å², about 10,000 β-galactosidase particles (PDB 5A1A, ~200 Å across) in a 100-px box,
300 kV, Cs 2 mm, Q 0.1, defocus 0.8–3.0 µm. ``quick`` keeps its physics on 8 movies of 1024² px
at 4.5 Å/px (a detector of 2.25 Å/px binned twice) with an 80-px box (360 Å) and ~1,500
particles: at 3.54 Å/px, ~1,000 particles carry no more than 8.65 Å (masked FSC of a
reconstruction at their true poses and CTFs), 22% above that Nyquist, so the demo's data are
sampled to match what they hold (Nyquist 9.0 Å) and each image costs 36% less. ``tiny`` is 2
movies of 512² px with a 64-px box (4.5 Å/px) and a few dozen particles, rendered in about a second.
"""

from __future__ import annotations

from typing import Any

from vitreo.io.errors import InputError
from vitreo.simulate.config import SimulationConfig

PRESETS: dict[str, SimulationConfig] = {
    "tutorial": SimulationConfig(),
    "quick": SimulationConfig(
        n_micrographs=8,
        micrograph_size=(1024, 1024),
        pixel_size=4.5,
        detector_pixel_size=2.25,
        box=80,
        particles_per_micrograph=190,
        min_distance=170.0,
    ),
    "tiny": SimulationConfig(
        n_micrographs=2,
        micrograph_size=(512, 512),
        pixel_size=4.5,
        detector_pixel_size=2.25,
        box=64,
        particles_per_micrograph=20,
        contamination=0.0,
    ),
}


def preset(name: str, **overrides: Any) -> SimulationConfig:
    """The named preset, with some parameters changed; InputError for an unknown name or parameter."""
    try:
        config = PRESETS[name]
    except KeyError:
        raise InputError(None, f"unknown preset '{name}': choose one of {', '.join(PRESETS)}") from None
    return config.replace(**overrides) if overrides else config
