"""The ground truth of a simulated dataset as RELION STAR files.

- ``truth/particles.star`` (RELION 3.1: data_optics + data_particles): one row per particle
  and per junk object. rlnCoordinateX/Y are whole pixels of the first frame (RELION's
  extraction centres the box on them); the sub-pixel rest is in rlnOriginXAngst/YAngst, so the
  centre lies at coordinate − origin/pixel size, as RELION reads origins. Angles are RELION's
  Euler angles of the projection; defocus is the micrograph's. rlnVitreoState (1 or 2; 0 for
  junk), rlnVitreoIsJunk (0/1) and rlnVitreoObjectType (particle, aggregate, broken, ice,
  blob) are ours.
- ``truth/micrographs.star``: data_optics + data_micrographs, one row per micrograph with its
  CTF, accumulated motion, mean ice thickness, the fraction of it on carbon
  (rlnVitreoCarbonFraction) and, for movies, rlnMicrographMetadata naming its motion file.
- ``truth/motion/<name>.star`` (movies): RELION's per-movie motion-correction file
  (data_general, data_global_shift, data_local_motion_model, data_hot_pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitreo.em.motion_polynomial import MODEL_VERSION
from vitreo.io.star import Table, write_star
from vitreo.simulate.config import SimulationConfig
from vitreo.simulate.motion import MotionModel
from vitreo.simulate.plan import MicrographPlan

OPTICS_GROUP_NAME = "opticsGroup1"


@dataclass(frozen=True)
class MicrographTruth:
    """What was rendered on one micrograph: particle rows and the micrograph's row (STAR columns)."""

    particles: dict[str, np.ndarray]
    micrograph: dict[str, Any]


def micrograph_truth(
    plan: MicrographPlan, config: SimulationConfig, image_path: str, metadata_path: str | None,
    ice_thickness: float, carbon_fraction: float,
) -> MicrographTruth:
    """Truth rows of one micrograph; paths relative to the dataset folder."""
    pixel = config.pixel_size
    positions = np.concatenate([plan.positions, plan.junk_positions])
    n_particles, n_junk = len(plan.positions), len(plan.junk_positions)
    n = n_particles + n_junk
    coordinates = np.rint(positions)
    angles = np.concatenate([plan.angles.reshape(-1, 3), np.zeros((n_junk, 3))])
    u, v, angle = plan.defocus
    kinds = ["particle"] * n_particles + plan.junk.kind_names()
    particles = {
        "rlnMicrographName": np.full(n, image_path, dtype=object),
        "rlnCoordinateX": coordinates[:, 0],
        "rlnCoordinateY": coordinates[:, 1],
        "rlnAngleRot": angles[:, 0],
        "rlnAngleTilt": angles[:, 1],
        "rlnAnglePsi": angles[:, 2],
        "rlnOriginXAngst": (coordinates[:, 0] - positions[:, 0]) * pixel,
        "rlnOriginYAngst": (coordinates[:, 1] - positions[:, 1]) * pixel,
        "rlnDefocusU": np.full(n, u),
        "rlnDefocusV": np.full(n, v),
        "rlnDefocusAngle": np.full(n, angle),
        "rlnPhaseShift": np.full(n, config.phase_shift),
        "rlnCtfBfactor": np.full(n, config.envelope_bfactor),
        "rlnOpticsGroup": np.ones(n, dtype=np.int64),
        "rlnVitreoState": np.concatenate([plan.states, np.zeros(n_junk, dtype=np.int64)]),
        "rlnVitreoIsJunk": np.concatenate([np.zeros(n_particles, np.int64), np.ones(n_junk, np.int64)]),
        "rlnVitreoObjectType": np.array(kinds, dtype=object),
    }
    micrograph: dict[str, Any] = {"rlnMicrographName": image_path}
    if metadata_path is not None:
        micrograph["rlnMicrographMetadata"] = metadata_path
    micrograph.update(
        rlnOpticsGroup=1,
        rlnDefocusU=u,
        rlnDefocusV=v,
        rlnDefocusAngle=angle,
        rlnCtfAstigmatism=u - v,
        rlnPhaseShift=config.phase_shift,
        rlnCtfBfactor=config.envelope_bfactor,
        rlnAccumMotionTotal=plan.motion.accumulated_motion(),
        rlnMicrographIceThickness=ice_thickness,
        rlnVitreoCarbonFraction=carbon_fraction,
    )
    return MicrographTruth(particles, micrograph)


def optics_table(config: SimulationConfig, mtf_name: str | None, particles: bool) -> Table:
    """The single optics group; ``particles`` adds the image columns RELION needs for particle files."""
    columns: dict[str, Any] = {"rlnOpticsGroupName": [OPTICS_GROUP_NAME], "rlnOpticsGroup": [1]}
    if mtf_name is not None:
        columns["rlnMtfFileName"] = [mtf_name]
    columns.update(
        rlnMicrographOriginalPixelSize=[config.pixel_size],
        rlnVoltage=[config.voltage],
        rlnSphericalAberration=[config.cs],
        rlnAmplitudeContrast=[config.amplitude_contrast],
    )
    if config.micrographs_only:
        columns["rlnMicrographPixelSize"] = [config.pixel_size]
    if particles:
        columns.update(
            rlnImagePixelSize=[config.pixel_size],
            rlnImageSize=[config.box],
            rlnImageDimensionality=[2],
            rlnCtfDataAreCtfPremultiplied=[0],
        )
    return Table(columns)


def write_truth_tables(
    folder: Path, config: SimulationConfig, truths: Sequence[MicrographTruth], mtf_name: str | None
) -> None:
    """Write particles.star and micrographs.star into ``folder``."""
    particle_columns = {
        label: np.concatenate([t.particles[label] for t in truths]) for label in truths[0].particles
    }
    micrograph_columns = {label: [t.micrograph[label] for t in truths] for label in truths[0].micrograph}
    write_star(
        folder / "particles.star",
        {"optics": optics_table(config, mtf_name, True), "particles": Table(particle_columns)},
    )
    write_star(
        folder / "micrographs.star",
        {"optics": optics_table(config, mtf_name, False), "micrographs": Table(micrograph_columns)},
    )


def write_motion_star(
    path: Path, motion: MotionModel, config: SimulationConfig, movie_path: str, gain_path: str | None,
    hot_pixels: np.ndarray,
) -> None:
    """RELION's per-movie motion file for a movie (shifts in movie pixels, RELION's sign)."""
    width, height = config.micrograph_size
    has_local = bool(np.any(motion.local_coefficients))
    general: dict[str, Any] = {
        "rlnImageSizeX": width,
        "rlnImageSizeY": height,
        "rlnImageSizeZ": motion.n_frames,
        "rlnMicrographMovieName": movie_path,
    }
    if gain_path is not None:
        general["rlnMicrographGainName"] = gain_path
    general.update(
        rlnMicrographBinning=1.0,
        rlnMicrographOriginalPixelSize=config.pixel_size,
        rlnMicrographDoseRate=config.dose_per_frame,
        rlnMicrographPreExposure=config.pre_exposure,
        rlnVoltage=config.voltage,
        rlnMicrographStartFrame=1,
        rlnMotionModelVersion=MODEL_VERSION if has_local else 0,
    )
    blocks: dict[str, Any] = {
        "general": general,
        "global_shift": Table(
            {
                "rlnMicrographFrameNumber": np.arange(1, motion.n_frames + 1),
                "rlnMicrographShiftX": motion.global_shifts[:, 0],
                "rlnMicrographShiftY": motion.global_shifts[:, 1],
            }
        ),
    }
    if has_local:
        blocks["local_motion_model"] = Table(
            {
                "rlnMotionModelCoeffsIdx": np.arange(motion.local_coefficients.size),
                "rlnMotionModelCoeff": motion.local_coefficients,
            }
        )
    if len(hot_pixels):
        blocks["hot_pixels"] = Table(
            {"rlnCoordinateX": hot_pixels[:, 0].astype(float), "rlnCoordinateY": hot_pixels[:, 1].astype(float)}
        )
    write_star(path, blocks)
