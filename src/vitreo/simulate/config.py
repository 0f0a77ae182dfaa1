"""Every parameter of a simulated dataset, with its unit and meaning, and the checks on them.

Units as in RELION: lengths in Å, angles in degrees, defocus in Å (positive = underfocus),
voltage in kV, Cs in mm, exposures in e/Å². Sizes in pixels are (x, y). The field
metadata ("help", "unit") documents each parameter once: the command line and
truth/README.md are generated from it. The defaults are the ``tutorial`` preset.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitreo.io.errors import InputError


def _param(default: Any, help: str, unit: str = "") -> Any:
    """A dataclass field carrying its help text and unit."""
    return field(default=default, metadata={"help": help, "unit": unit})


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of ``vitreo simulate`` (see the module docstring for units)."""

    # --- dataset -------------------------------------------------------------------------------
    n_micrographs: int = _param(15, "number of movies (or micrographs)")
    micrograph_size: tuple[int, int] = _param((2048, 2048), "frame size (x, y)", "px")
    pixel_size: float = _param(3.54, "pixel size of the movies, micrographs and maps", "Å")
    seed: int = _param(0, "random seed; the same seed and parameters give the same dataset")
    micrographs_only: bool = _param(
        False, "write one motion-free exposure per micrograph (float32 .mrc) instead of movies"
    )
    tiff: bool = _param(False, "write movies as deflate-compressed TIFF (flipped along y, as RELION reads TIFF)")
    workers: int = _param(0, "processes rendering micrographs in parallel (0: one per CPU, at most one per micrograph)")
    device: str = _param("cpu", "torch device for rendering (cpu, cuda, cuda:N)")
    # --- specimen ------------------------------------------------------------------------------
    structure: str = _param("", "PDB/mmCIF model or MRC map of the particle ('' = PDB 5A1A, E. coli β-galactosidase)")
    box: int = _param(100, "particle box: the maps' size and the extraction box the truth is made for", "px")
    particle_diameter: float = _param(0.0, "particle diameter (0: measured from the potential)", "Å")
    particles_per_micrograph: int = _param(667, "particles placed on each micrograph (fewer if they do not fit)")
    min_distance: float = _param(0.0, "smallest distance between particle centres (0: the particle diameter)", "Å")
    bfactor: float = _param(0.0, "B-factor added to every atom", "Å²")
    displace_solvent: bool = _param(True, "subtract the water a particle displaces (atomic models only)")
    state2_fraction: float = _param(0.0, "fraction of particles in the second conformational state")
    state2_selection: str = _param(
        "A/737-1023", "atoms missing in state 2 (gemmi selection; default: domain 5 of chain A)"
    )
    preferred_fraction: float = _param(0.0, "fraction of particles viewed near the preferred direction")
    preferred_direction: tuple[float, float] = _param((0.0, 0.0), "preferred viewing direction (rot, tilt)", "°")
    preferred_spread: float = _param(10.0, "angular spread about the preferred direction (von Mises–Fisher)", "°")
    junk_fraction: float = _param(0.05, "junk objects (aggregates, broken particles, ice crystals, blobs) per particle")
    ice_thickness: float = _param(300.0, "mean ice thickness (0: particles in vacuum, no ice)", "Å")
    ice_variation: float = _param(0.1, "relative standard deviation of the ice thickness across a micrograph")
    amorphous_contrast: float = _param(
        0.1, "power of amorphous ice/carbon relative to randomly placed atoms (its low-resolution structure factor)"
    )
    carbon_probability: float = _param(0.2, "probability that a micrograph shows a carbon edge")
    carbon_thickness: float = _param(150.0, "thickness of the carbon support film", "Å")
    contamination: float = _param(0.3, "mean number of ice contamination blobs per micrograph")
    # --- optics --------------------------------------------------------------------------------
    voltage: float = _param(300.0, "acceleration voltage", "kV")
    cs: float = _param(2.0, "spherical aberration", "mm")
    amplitude_contrast: float = _param(0.1, "amplitude contrast Q")
    defocus_range: tuple[float, float] = _param((8000.0, 30000.0), "range of the mean defocus (uniform)", "Å")
    astigmatism_max: float = _param(1000.0, "largest defocus difference U − V (uniform from 0)", "Å")
    phase_shift: float = _param(0.0, "phase-plate phase shift", "°")
    envelope_bfactor: float = _param(30.0, "CTF envelope B-factor (spatial and temporal coherence)", "Å²")
    ctf: bool = _param(True, "apply the CTF (off: a perfect phase-contrast image, −2·phase)")
    mtf: str = _param("falcon2_300kV", "detector MTF: a shipped curve name, a RELION MTF STAR file, or 'none'")
    detector_pixel_size: float = _param(1.77, "physical detector pixel, the MTF's unit (0: the pixel size)", "Å")
    # --- movies --------------------------------------------------------------------------------
    n_frames: int = _param(16, "frames per movie")
    dose_per_frame: float = _param(1.0, "exposure per frame", "e/Å²")
    pre_exposure: float = _param(0.0, "exposure before the first frame", "e/Å²")
    damage: bool = _param(True, "radiation damage (Grant & Grigorieff 2015)")
    shot_noise: bool = _param(True, "Poisson counts (off: noise-free expected counts, written as float32)")
    motion: bool = _param(True, "beam-induced motion")
    drift: float = _param(15.0, "mean length of the global drift path over the movie (fastest in early frames)", "Å")
    local_motion: float = _param(3.0, "largest local deviation from the global drift at the last frame", "Å")
    gain_reference: bool = _param(False, "per-pixel detector gain; writes Micrographs/gain.mrc (multiply frames by it)")
    gain_variation: float = _param(0.05, "relative standard deviation of the pixel sensitivities")
    hot_pixels: int = _param(0, "hot pixels (same on every movie)")
    dead_pixels: int = _param(0, "dead pixels (gain 0; needs --gain-reference)")

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> SimulationConfig:
        """Read the parameters a dataset was made with (``truth/simulation.json``)."""
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(path, f"cannot read simulation parameters ({err})") from None
        if not isinstance(values, dict):
            raise InputError(path, "expected a JSON object of simulation parameters")
        lists = {name: tuple(value) for name, value in values.items() if isinstance(value, list)}
        return cls().replace(**{**values, **lists})

    def to_json(self) -> str:
        """The parameters as JSON (read back by :meth:`from_json`)."""
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False) + "\n"

    def replace(self, **changes: Any) -> SimulationConfig:
        """A copy with some parameters changed; unknown names raise InputError."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise InputError(None, f"unknown simulation parameter(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    @property
    def frame_exposures(self) -> list[tuple[float, float]]:
        """Cumulative exposure (e/Å²) at the start and end of each rendered frame (one for micrographs_only)."""
        if self.micrographs_only:
            return [(self.pre_exposure, self.pre_exposure + self.n_frames * self.dose_per_frame)]
        return [
            (self.pre_exposure + f * self.dose_per_frame, self.pre_exposure + (f + 1) * self.dose_per_frame)
            for f in range(self.n_frames)
        ]

    @property
    def mtf_pixel_size(self) -> float:
        """Pixel size (Å) in which the MTF curve's frequencies are given."""
        return self.detector_pixel_size if self.detector_pixel_size > 0 else self.pixel_size

    def validate(self) -> None:
        """Raise InputError (one line) for values no simulation can use."""
        problems = list(_problems(self))
        if problems:
            raise InputError(None, problems[0])


def field_names() -> list[str]:
    """Names of all parameters, in declaration order."""
    return [f.name for f in dataclasses.fields(SimulationConfig)]


def _problems(c: SimulationConfig) -> list[str]:
    """Human-readable problems with a configuration, most basic first."""
    out = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            out.append(message)

    width, height = c.micrograph_size
    need(c.n_micrographs >= 1, f"n_micrographs must be at least 1, got {c.n_micrographs}")
    need(c.pixel_size > 0, f"pixel size must be positive, got {c.pixel_size} Å")
    need(c.box >= 16 and c.box % 2 == 0, f"box must be even and at least 16 px, got {c.box}")
    need(
        width % 2 == 0 and height % 2 == 0 and min(width, height) >= 2 * c.box,
        f"micrograph size {width}x{height} must be even and at least twice the box ({c.box} px)",
    )
    need(c.dose_per_frame > 0, f"dose per frame must be positive, got {c.dose_per_frame} e/Å²")
    need(c.pre_exposure >= 0, f"pre-exposure must not be negative, got {c.pre_exposure} e/Å²")
    need(c.n_frames >= 1, f"n_frames must be at least 1, got {c.n_frames}")
    need(c.particles_per_micrograph >= 0, "particles_per_micrograph must not be negative")
    need(c.particle_diameter >= 0 and c.min_distance >= 0, "particle diameter and min distance must not be negative")
    need(
        c.particle_diameter <= c.box * c.pixel_size,
        f"box of {c.box} px ({c.box * c.pixel_size:.0f} Å) is smaller than the particle "
        f"({c.particle_diameter:.0f} Å across)",
    )
    for name in ("state2_fraction", "preferred_fraction", "carbon_probability"):
        value = getattr(c, name)
        need(0 <= value <= 1, f"{name} must lie in [0, 1], got {value}")
    for name in ("junk_fraction", "ice_thickness", "ice_variation", "amorphous_contrast", "carbon_thickness",
                 "contamination", "astigmatism_max", "envelope_bfactor", "drift", "local_motion",
                 "gain_variation", "preferred_spread", "cs", "detector_pixel_size"):
        value = getattr(c, name)
        need(value >= 0, f"{name} must not be negative, got {value}")
    need(c.voltage > 0, f"voltage must be positive, got {c.voltage} kV")
    need(0 <= c.amplitude_contrast < 1, f"amplitude contrast must lie in [0, 1), got {c.amplitude_contrast}")
    low, high = c.defocus_range
    need(0 <= low <= high, f"defocus range must satisfy 0 ≤ low ≤ high, got {low}..{high} Å")
    need(c.hot_pixels >= 0 and c.dead_pixels >= 0, "hot/dead pixel counts must not be negative")
    need(c.dead_pixels == 0 or c.gain_reference, "dead pixels need --gain-reference (they are zeros of the gain)")
    need(c.hot_pixels + c.dead_pixels <= width * height // 100, "too many hot/dead pixels (at most 1% of the frame)")
    need(not (c.tiff and c.micrographs_only), "--tiff writes movies; it cannot be combined with --micrographs-only")
    return out
