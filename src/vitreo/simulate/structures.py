"""The shipped default structure: PDB 5A1A, E. coli β-galactosidase (D2), in RELION's axes.

``data/5a1a.cif.gz`` is the wwPDB mmCIF entry 5A1A (CC0), gzipped unchanged (``gzip -9 -n``;
the uncompressed sha256 is 56ec5094…bfdf1b). Its deposited frame is arbitrary, so we
rotate it about its centre of mass: RELION's D2 has its 2-folds along z, x and y, and the
three 2-folds of a D2 assembly are its principal axes. Which principal axis goes on which
grid axis is :data:`BETAGAL_AXIS_ORDER`, chosen as the one of the six assignments whose
map best matches the real betagal reconstruction (betaGal.mrc, 3.54 Å/px, D2 in RELION's
axes); tests/simulate/test_density.py checks that choice against that map.

Result: the long axis (181 Å) on z, the middle one (136 Å) on x, the short one (92 Å) on y.
The correlation with betaGal.mrc (ours low-passed to 8 Å) is 0.89 against 0.34–0.52 for
the other five assignments and 0.61 for the mirror image. 5A1A's deposited axes are
already its 2-folds (to 1e-4 rad), so the rotation is close to the cyclic permutation
(x, y, z) ← (y_dep, z_dep, x_dep), about the centre of mass at (93.0, 93.0, 93.0) Å.
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable

import gemmi
import numpy as np

from vitreo.simulate.density import density_from_model, read_model

#: Principal axes, indexed by increasing spread of the potential (0: shortest, about 92 Å
#: across for 5A1A; 1: middle, 136 Å; 2: longest, 181 Å), placed on the grid axes (x, y, z).
BETAGAL_AXIS_ORDER: tuple[int, int, int] = (1, 0, 2)

#: Pixel size (Å) of the coarse map used to find the principal axes.
_AXES_PIXEL_A = 4.0


def default_model_path() -> Traversable:
    """The shipped 5A1A mmCIF (gzip), as deposited."""
    return resources.files("vitreo") / "data" / "5a1a.cif.gz"


def principal_axes(structure: gemmi.Structure) -> np.ndarray:
    """Principal axes of the model's potential about its centre of mass: rows (3, 3) in (x, y, z).

    Rows are unit vectors sorted by increasing spread (second moment of the potential on a
    4 Å grid). Signs follow a fixed rule (largest component positive for rows 0 and 1) and
    row 2 completes a right-handed frame.
    """
    bounds = structure.calculate_box()
    lo, hi = np.array(bounds.minimum.tolist()), np.array(bounds.maximum.tolist())
    centre = np.array(structure[0].calculate_center_of_mass().tolist())
    box = 2 * (int(np.max(np.maximum(hi - centre, centre - lo)) / _AXES_PIXEL_A) + 2)
    potential = density_from_model(structure, _AXES_PIXEL_A, box).astype(np.float64)
    r = (np.arange(box) - box // 2) * _AXES_PIXEL_A
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    xyz = np.stack([x.ravel(), y.ravel(), z.ravel()])
    moments = (xyz * potential.ravel()) @ xyz.T
    _, vectors = np.linalg.eigh(moments)
    axes = vectors.T
    axes[:2] *= np.sign(axes[:2][np.arange(2), np.abs(axes[:2]).argmax(axis=1)])[:, None]
    axes[2] = np.cross(axes[0], axes[1])
    return axes


def orientation_matrix(axes: np.ndarray, order: tuple[int, int, int]) -> np.ndarray:
    """Rotation R (3, 3), det +1, with R · axes[order[i]] = unit vector i of (x, y, z).

    Axis ``order[2]``'s sign is set so that R is proper; for a D2 model the other sign
    choices are its own symmetry operations.
    """
    rotation = axes[list(order)].copy()
    rotation[2] *= np.sign(np.linalg.det(rotation))
    return rotation


def oriented(structure: gemmi.Structure, rotation: np.ndarray) -> gemmi.Structure:
    """A copy of the structure rotated by ``rotation`` about its first model's centre of mass."""
    result = structure.clone()
    centre = np.array(result[0].calculate_center_of_mass().tolist())
    transform = gemmi.Transform(gemmi.Mat33(rotation.tolist()), gemmi.Vec3(*(centre - rotation @ centre)))
    for model in result:
        model.transform_pos_and_adp(transform)
    return result


def default_structure(order: tuple[int, int, int] = BETAGAL_AXIS_ORDER) -> gemmi.Structure:
    """5A1A rotated into RELION's D2 axes (``order`` as :data:`BETAGAL_AXIS_ORDER`); a fresh copy."""
    return _default_structure(tuple(order)).clone()


def default_structure_map(pixel_size_A: float, box: int, *, bfactor_extra: float = 0.0) -> np.ndarray:
    """Coulomb potential (volts) of the oriented 5A1A, centred at voxel box//2: (z, y, x) float32."""
    return density_from_model(_default_structure(BETAGAL_AXIS_ORDER), pixel_size_A, box, bfactor_extra=bfactor_extra)


@functools.lru_cache(maxsize=6)
def _default_structure(order: tuple[int, int, int]) -> gemmi.Structure:
    raw, axes = _deposited_structure_and_axes()
    return oriented(raw, orientation_matrix(axes, order))


@functools.lru_cache(maxsize=1)
def _deposited_structure_and_axes() -> tuple[gemmi.Structure, np.ndarray]:
    """5A1A in its deposited frame, and its principal axes."""
    with resources.as_file(default_model_path()) as path:
        structure = read_model(path)
    return structure, principal_axes(structure)

