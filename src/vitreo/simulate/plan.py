"""Everything random about one micrograph, drawn before any rendering.

Each micrograph i draws from its own random streams, ``SeedSequence(seed, spawn_key=(i, part))``
with one part per aspect (CTF, positions, orientations, junk, motion, background, noise), so a
dataset does not depend on how micrographs are spread over processes, and switching one
aspect off (motion, junk, …) leaves the others unchanged. The detector (gain, hot and dead
pixels) belongs to the dataset: :func:`dataset_rng`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.geometry import matrix_to_euler
from vitreo.simulate.background import BackgroundSpec, draw_background
from vitreo.simulate.config import SimulationConfig
from vitreo.simulate.junk import JunkSpec, draw_junk
from vitreo.simulate.motion import MotionModel, random_motion, static_motion
from vitreo.simulate.placement import random_orientations, random_positions

_CTF, _POSITIONS, _ORIENTATIONS, _JUNK, _MOTION, _BACKGROUND, _NOISE = range(7)
_DATASET_KEY = 2**31 - 1
JUNK_REACH = 1.0  # how far junk reaches from its centre, in particle diameters


@dataclass(frozen=True)
class MicrographPlan:
    """The random content of one micrograph; positions are (x, y) frame pixels in the first frame."""

    index: int
    name: str  # file stem, e.g. mic001
    defocus: tuple[float, float, float]  # U, V (Å), angle (°)
    positions: np.ndarray  # (n, 2) particle centres
    rotations: np.ndarray  # (n, 3, 3) RELION matrices A
    states: np.ndarray  # (n,) 1 or 2
    junk_positions: np.ndarray  # (m, 2)
    junk: JunkSpec
    motion: MotionModel
    background: BackgroundSpec
    noise_seed: int

    @property
    def angles(self) -> np.ndarray:
        """(rot, tilt, psi) in degrees, (n, 3), RELION's Euler angles of ``rotations``."""
        rot, tilt, psi = matrix_to_euler(torch.from_numpy(self.rotations))
        return np.degrees(torch.stack([rot, tilt, psi], dim=-1).numpy())


def stream(seed: int, index: int, part: int) -> np.random.Generator:
    """The random generator of one aspect of one micrograph."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, part)))


def dataset_rng(seed: int) -> np.random.Generator:
    """The random generator of dataset-wide properties (the detector)."""
    return stream(seed, _DATASET_KEY, 0)


def micrograph_name(index: int, n_micrographs: int) -> str:
    """File stem of micrograph ``index`` (0-based): mic001, mic002, … (wider for > 999)."""
    return f"mic{index + 1:0{max(3, len(str(n_micrographs)))}d}"


def plan_micrograph(config: SimulationConfig, index: int, diameter: float) -> MicrographPlan:
    """Draw micrograph ``index`` for particles of ``diameter`` Å."""
    seed = config.seed
    width, height = config.micrograph_size
    pixel, box = config.pixel_size, config.box
    diameter_px = diameter / pixel
    min_distance = (config.min_distance or diameter) / pixel

    ctf_rng = stream(seed, index, _CTF)
    mean = ctf_rng.uniform(*config.defocus_range)
    astigmatism = ctf_rng.uniform(0.0, config.astigmatism_max)
    defocus = (mean + astigmatism / 2, mean - astigmatism / 2, ctf_rng.uniform(-90.0, 90.0))

    junk_rng = stream(seed, index, _JUNK)
    n_junk = int(junk_rng.poisson(config.junk_fraction * config.particles_per_micrograph))
    positions, junk_positions = _place(stream(seed, index, _POSITIONS), junk_rng, config, min_distance,
                                       diameter_px, n_junk)

    generator = torch.Generator().manual_seed(int(stream(seed, index, _ORIENTATIONS).integers(2**62)))
    rotations = random_orientations(
        len(positions), generator, config.preferred_fraction, config.preferred_direction, config.preferred_spread
    )
    states = np.where(torch.rand(len(positions), generator=generator).numpy() < config.state2_fraction, 2, 1)

    junk = draw_junk(junk_rng, len(junk_positions), box, diameter_px)

    if config.motion and not config.micrographs_only:
        motion_rng = stream(seed, index, _MOTION)
        motion = random_motion(
            motion_rng, config.n_frames, (width, height), config.drift / pixel, config.local_motion / pixel
        )
    else:
        motion = static_motion(len(config.frame_exposures), (width, height))
    return MicrographPlan(
        index=index,
        name=micrograph_name(index, config.n_micrographs),
        defocus=defocus,
        positions=positions,
        rotations=rotations.numpy(),
        states=states.astype(np.int64),
        junk_positions=junk_positions,
        junk=junk,
        motion=motion,
        background=draw_background(stream(seed, index, _BACKGROUND), config),
        noise_seed=int(stream(seed, index, _NOISE).integers(2**62)),
    )


def _place(position_rng: np.random.Generator, junk_rng: np.random.Generator, config: SimulationConfig,
           min_distance: float, diameter: float, n_junk: int) -> tuple[np.ndarray, np.ndarray]:
    """Particle and junk centres (n, 2), (m, 2), at least half a box from the edges (so every
    object can be extracted). Junk goes first, uniformly over the field as on real grids (not
    only where particles left room); particles then fill the rest as a hard-disk gas, keeping
    clear of junk, which reaches about one particle ``diameter`` (px) from its centre (aggregates,
    crystals): particle–junk centres at least 1.5, junk–junk 2 diameters apart."""
    width, height = config.micrograph_size
    half = config.box / 2
    bounds = (half, half, width - half, height - half)
    junk = random_positions(junk_rng, n_junk, bounds, 2 * JUNK_REACH * diameter)
    particles = random_positions(position_rng, config.particles_per_micrograph, bounds, min_distance, junk,
                                 max(min_distance, (JUNK_REACH + 0.5) * diameter))
    return particles, junk
