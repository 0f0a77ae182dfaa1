"""The particle's potential maps, one per conformational state, at the simulation's pixel size.

From an atomic model (PDB/mmCIF, the shipped 5A1A by default) the Coulomb potential comes
from :func:`vitreo.simulate.density.density_from_model`, with the model's centre of mass at
voxel box//2 (RELION's origin). State 2 is the same placement with the atoms of a gemmi
selection removed (by default domain 5 of chain A), so both states share one frame. A
particle in ice displaces water, so its contrast is its potential minus the water's: with
``displace_solvent`` the mean potential of vitreous ice is subtracted inside a mask of the
protein's volume (mass × 0.73 cm³/g), found by thresholding the low-passed potential.

From a map (MRC), values are taken as contrast against the solvent (what a reconstruction
from ice shows) and scaled so that voxels above 10% of its maximum average
:data:`MAP_CONTRAST_VOLTS`; the map is resampled to the pixel size and boxed about its
centre. Maps are (z, y, x) float32 in volts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np
import torch
from scipy import ndimage

from vitreo.em.filters import apply_bfactor, lowpass
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc
from vitreo.simulate.config import SimulationConfig
from vitreo.simulate.density import density_from_model, read_model
from vitreo.simulate.materials import PROTEIN_VOLUME_PER_DA, VITREOUS_ICE
from vitreo.simulate.structures import default_structure

MAP_SUFFIXES = (".mrc", ".map", ".mrcs", ".rec")
#: A map's voxels above 10% of its maximum average this contrast (V): protein (≈ 7.5 V as
#: independent atoms) against vitreous ice (≈ 4.6 V).
MAP_CONTRAST_VOLTS = 3.0
#: Fraction of the maximum above which a voxel counts as particle when measuring the diameter
#: of a model's potential (its band-limited atoms ring at about 2%) and of a map (noisier).
_MODEL_LEVEL, _MAP_LEVEL = 0.05, 0.1


@dataclass(frozen=True)
class ParticleMaps:
    """Potential maps (volts, (z, y, x), centre at box//2) per state, and the particle's size."""

    volumes: tuple[np.ndarray, ...]
    diameter: float  # Å
    description: str


@dataclass(frozen=True)
class MapRequest:
    """The parameters the maps depend on (hashable: results are cached by it)."""

    structure: str  # '' for the shipped 5A1A
    stamp: tuple[int, int]  # size and mtime of the structure file, so an edited file is read again
    pixel_size: float
    box: int
    particle_diameter: float
    bfactor: float
    displace_solvent: bool
    state2_selection: str | None  # None: one state

    @classmethod
    def from_config(cls, config: SimulationConfig) -> MapRequest:
        path = Path(config.structure)
        stamp = (path.stat().st_size, path.stat().st_mtime_ns) if config.structure and path.is_file() else (0, 0)
        return cls(
            config.structure, stamp, config.pixel_size, config.box, config.particle_diameter, config.bfactor,
            config.displace_solvent, config.state2_selection if config.state2_fraction > 0 else None,
        )


def particle_maps(config: SimulationConfig) -> ParticleMaps:
    """The maps of all states for ``config`` (state 2 only when state2_fraction > 0), read-only.

    Raises InputError for an unreadable structure, a particle larger than the box, or a state-2
    selection that removes nothing. Recent results are cached, so repeated simulations of one
    particle compute its maps once.
    """
    return _particle_maps(MapRequest.from_config(config))


@functools.lru_cache(maxsize=4)
def _particle_maps(request: MapRequest) -> ParticleMaps:
    source = request.structure
    if source and Path(source).suffix.lower() in MAP_SUFFIXES:
        volumes, extent, description = _from_map(Path(source), request)
    else:
        volumes, extent, description = _from_model(request)
    diameter = request.particle_diameter or extent
    if diameter > request.box * request.pixel_size:
        raise _box_too_small(source or None, request, diameter)
    for volume in volumes:
        volume.flags.writeable = False
    return ParticleMaps(tuple(volumes), diameter, description)


def _box_too_small(path: str | Path | None, request: MapRequest, across: float | None = None) -> InputError:
    size = f" ({across:.0f} Å across)" if across else ""
    side = request.box * request.pixel_size
    return InputError(path, f"box of {request.box} px ({side:.0f} Å) is smaller than the particle{size}")


def measured_diameter(volume: np.ndarray, pixel_size: float, level: float) -> float:
    """Twice the largest distance (Å) from the box centre of a voxel above ``level`` × maximum, plus a pixel."""
    n = volume.shape[0]
    axis = (np.arange(n) - n // 2) * pixel_size
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij", sparse=True)
    radius = np.sqrt(x * x + y * y + z * z)
    inside = volume > level * float(volume.max())
    return 2.0 * float(radius[inside].max()) + pixel_size


def _from_model(request: MapRequest) -> tuple[list[np.ndarray], float, str]:
    """State maps from an atomic model, the diameter of state 1 (Å) and a description."""
    path = request.structure or None
    structure = read_model(path) if path else default_structure()
    description = f"atomic model {path}" if path else "PDB 5A1A (E. coli β-galactosidase, shipped)"
    pixel, box = request.pixel_size, request.box
    placed = _centred(structure, pixel, box)
    models = [placed]
    if request.state2_selection is not None:
        models.append(_without_selection(placed, request.state2_selection, path))
    volumes, diameter = [], 0.0
    for model in models:
        try:
            volume = density_from_model(model, pixel, box, bfactor_extra=request.bfactor, center=False)
        except ValueError:
            bounds = model.calculate_box()
            span = float(np.max(np.array(bounds.maximum.tolist()) - np.array(bounds.minimum.tolist())))
            raise _box_too_small(path, request, span) from None
        diameter = diameter or measured_diameter(volume, pixel, _MODEL_LEVEL)
        if request.displace_solvent:
            volume = volume - VITREOUS_ICE.mean_potential * protein_mask(volume, pixel, _mass_da(model))
        volumes.append(volume.astype(np.float32))
    return volumes, diameter, description


def _centred(structure: gemmi.Structure, pixel_size: float, box: int) -> gemmi.Structure:
    """A copy of the first model moved so that its centre of mass is at voxel box//2."""
    result = gemmi.Structure()
    result.cell = structure.cell
    result.add_model(structure[0].clone())
    centre = np.array(result[0].calculate_center_of_mass().tolist())
    shift = np.full(3, (box // 2) * pixel_size) - centre
    result[0].transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(*shift)))
    return result


def _without_selection(structure: gemmi.Structure, selection: str, path: str | None) -> gemmi.Structure:
    """A copy without the atoms of a gemmi selection; InputError if it is invalid or removes nothing."""
    try:
        chosen = gemmi.Selection(selection)
    except (RuntimeError, ValueError) as err:
        raise InputError(path, f"invalid state-2 selection '{selection}' ({err})") from None
    result = structure.clone()
    chosen.remove_selected(result)
    removed = structure[0].count_atom_sites() - result[0].count_atom_sites()
    if removed == 0 or result[0].count_atom_sites() == 0:
        raise InputError(path, f"state-2 selection '{selection}' must remove some but not all atoms")
    return result


def _mass_da(structure: gemmi.Structure) -> float:
    """Mass (Da) of the atoms of the first model, weighted by occupancy."""
    return sum(cra.atom.element.weight * cra.atom.occ for cra in structure[0].all())


def protein_mask(volume: np.ndarray, pixel_size: float, mass_da: float) -> np.ndarray:
    """Soft mask (0..1) of the volume a protein of ``mass_da`` occupies, from its potential.

    The potential is low-passed (Gaussian σ = max(pixel, 3 Å)), the highest voxels making up
    the protein's volume are kept, and the edge is softened by σ = pixel/2.
    """
    tensor = torch.from_numpy(np.asarray(volume, dtype=np.float32))
    sigma = max(pixel_size, 3.0)
    smooth = apply_bfactor(tensor, 8 * math.pi**2 * sigma**2, pixel_size)
    n_voxels = int(round(mass_da * PROTEIN_VOLUME_PER_DA / pixel_size**3))
    n_voxels = min(max(n_voxels, 1), smooth.numel())
    threshold = torch.topk(smooth.reshape(-1), n_voxels).values[-1]
    binary = (smooth >= threshold).float()
    soft = apply_bfactor(binary, 8 * math.pi**2 * (0.5 * pixel_size) ** 2, pixel_size).clamp(0.0, 1.0)
    return soft.numpy()


def _from_map(path: Path, request: MapRequest) -> tuple[list[np.ndarray], float, str]:
    """The map in volts, its diameter (Å) and a description.

    Resampled to the pixel size by cubic-spline interpolation (low-passed to the new Nyquist
    first when coarsening), with the map's voxel N//2 at the box's voxel box//2.
    """
    if request.state2_selection is not None:
        raise InputError(path, "a second state needs an atomic model (its atoms are removed by a selection)")
    data, voxel = read_mrc(path)
    if data.ndim != 3 or len(set(data.shape)) != 1:
        raise InputError(path, f"expected a cubic 3D map, got shape {data.shape}")
    if voxel <= 0:
        raise InputError(path, "the map's header has no pixel size")
    n, pixel, box = data.shape[0], request.pixel_size, request.box
    source = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
    if pixel > voxel:
        source = lowpass(source, 2.0 * pixel, voxel)
    peak = float(source.max())
    if peak <= 0:
        raise InputError(path, "the map has no positive density")
    offsets = (np.arange(n) - n // 2) * voxel
    inside = np.abs(offsets) <= (box // 2 - 1) * pixel
    particle = source.numpy() > _MAP_LEVEL * peak
    if particle.sum() > particle[np.ix_(inside, inside, inside)].sum():
        raise _box_too_small(path, request)
    axis = (np.arange(box) - box // 2) * (pixel / voxel) + n // 2
    grid = np.meshgrid(axis, axis, axis, indexing="ij")
    boxed = ndimage.map_coordinates(source.numpy(), grid, order=3, mode="constant", cval=0.0)
    volume = (boxed * (MAP_CONTRAST_VOLTS / float(boxed[boxed > 0.1 * boxed.max()].mean()))).astype(np.float32)
    diameter = measured_diameter(volume, pixel, _MAP_LEVEL)
    return [volume], diameter, f"map {path} ({n}³ at {voxel:.4g} Å/px)"
