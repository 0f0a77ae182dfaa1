"""truth/README.md: what a simulated dataset holds, its conventions, and every parameter."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np

from vitreo import __version__
from vitreo.simulate.config import SimulationConfig
from vitreo.simulate.truth import MicrographTruth

_CONVENTIONS = """\
## Conventions

- Units as RELION: Å, degrees, defocus in Å (positive = underfocus), kV, mm, e/Å².
- Coordinates (rlnCoordinateX/Y) are whole pixels of the first movie frame, x along columns,
  y along rows, 0-based; a particle's centre lies at coordinate − origin / pixel size
  (rlnOriginXAngst/YAngst carry the sub-pixel rest), i.e. at index box/2 of a box extracted
  around the coordinate, shifted by −origin.
- Angles are RELION's (rot, tilt, psi) of the matrix A that turns the map before projecting
  along z; the central slice F2(k) = F3(Aᵀ·(kx, ky, 0)).
- Motion (truth/motion/*.star) is RELION's motion-correction model: frame f, aligned to the
  first frame, is the frame shifted by +(rlnMicrographShiftX, rlnMicrographShiftY) plus the
  local polynomial (data_local_motion_model, RELION's ThirdOrderPolynomialModel at
  x/nx − 0.5, y/ny − 0.5, z = frame − 1); shifts in movie pixels.
- Raw images show dark particles on a bright background (image ∝ dose·(1 − 2·CTF ⊗ phase)).
  Movies hold counts; with a gain reference, multiply frames by Micrographs/gain.mrc.
  TIFF movies are stored flipped along y, as RELION reads TIFF.
- Maps (truth/map*.mrc) are the Coulomb potentials (volts) that were projected, minus the
  displaced water for atomic models, centred at voxel box/2, at the data's pixel size.
"""

_PHYSICS = """\
## Image formation

Weak-phase approximation. Phase φ = σ·Vp (σ the interaction constant, Vp the projected
potential in V·Å) of particles, junk, ice (random atoms with a structure factor
`amorphous_contrast`), carbon and contamination; per frame, particles and junk sit at their
positions moved by global + local motion (Fourier sub-pixel shifts), and so does the
background (the local part's sub-pixel rest resampled bicubically); the spectrum is attenuated by Grant & Grigorieff (2015) radiation
damage averaged over the frame's exposure; intensity = dose · T · (1 − 2·F⁻¹[CTF · MTF · Φ])
with T the electrons transmitted through ice and carbon; Poisson counts at the true dose per
pixel and frame, times each pixel's sensitivity; hot pixels read 10× the mean.
"""


def readme_text(config: SimulationConfig, truths: Sequence[MicrographTruth], description: str, diameter: float,
                files: Sequence[str]) -> str:
    """The README's Markdown."""
    kinds = Counter(kind for t in truths for kind in t.particles["rlnVitreoObjectType"])
    states = Counter(int(s) for t in truths for s in t.particles["rlnVitreoState"] if s > 0)
    n_particles = kinds.pop("particle", 0)
    defocus = np.array([[t.micrograph["rlnDefocusU"], t.micrograph["rlnDefocusV"]] for t in truths]).mean(1)
    lines = [
        "# Simulated cryo-EM dataset",
        "",
        f"Made by vitreo {__version__} (`vitreo simulate`, seed {config.seed}) from {description}.",
        "`truth/simulation.json` holds every parameter; the same parameters give the same dataset.",
        "",
        "## Summary",
        "",
        f"- {len(truths)} {'micrographs' if config.micrographs_only else 'movies'} of "
        f"{config.micrograph_size[0]} × {config.micrograph_size[1]} px at {config.pixel_size} Å/px"
        + ("" if config.micrographs_only else f", {config.n_frames} frames of {config.dose_per_frame} e/Å²"),
        f"- {n_particles} particles ({', '.join(f'state {k}: {v}' for k, v in sorted(states.items())) or 'none'}), "
        f"diameter {diameter:.0f} Å, box {config.box} px",
        f"- {sum(kinds.values())} junk objects ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items())) or 'none'})",
        f"- mean defocus {defocus.min():.0f}–{defocus.max():.0f} Å" if len(defocus) else "",
        "",
        "## Files",
        "",
        *[f"- `{name}`" for name in files],
        "",
        _CONVENTIONS,
        _PHYSICS,
        "## Parameters",
        "",
        "| parameter | option | value | unit | meaning |",
        "|---|---|---|---|---|",
    ]
    for field in dataclasses.fields(SimulationConfig):
        value = getattr(config, field.name)
        shown = " ".join(map(str, value)) if isinstance(value, tuple) else "''" if value == "" else str(value)
        option = "--" + field.name.replace("_", "-")
        lines.append(f"| {field.name} | `{option}` | {shown} | {field.metadata['unit']} | {field.metadata['help']} |")
    return "\n".join(line for line in lines) + "\n"
