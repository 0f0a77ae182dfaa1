"""Point-group symmetry in RELION's conventions (SymList::fill_symmetry_class).

Groups: C1, Cn (n-fold about z), Ci (inversion), Cs (mirror z), Cnv (+ mirror y), Cnh (+ mirror z),
Sn (n even: n/2-fold about z + inversion), Dn (n-fold about z, 2-fold about x), T (3-fold z,
2-fold (0, √(2/3), √(1/3))), O (3-fold (1,1,1)/√3, 4-fold z) and the icosahedral settings I1–I4,
with I (= I2, the default) having 2-folds on x, y, z and 5-folds in the xz plane. Names are
case-insensitive. Dnv, Dnh, Td, Th, Oh and the Ih groups are not supported (RELION's asymmetric
units for D1v, D1h and Dnh with odd n do not tile the sphere). Operators are 3×3 matrices g acting
on (x, y, z) coordinates; the volume obeys f(g·r) = f(r), so orientations A and A·gᵀ give the same
projection.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vitreo.em.geometry import angular_distance, euler_to_direction, euler_to_matrix

_PHI = (1 + math.sqrt(5)) / 2
_S = math.sqrt(1 + _PHI**2)  # |(1, 0, φ)|
_R3 = math.sqrt(3)
_Z = (0.0, 0.0, 1.0)
_X = (1.0, 0.0, 0.0)

# Generators (fold, axis) of the polyhedral groups: RELION's axes, written in closed form
# (RELION lists them as decimals, e.g. I2's 5-fold "0.525731114 0 0.850650807").
_POLYHEDRAL_AXES: dict[str, list[tuple[int, tuple[float, float, float]]]] = {
    "T": [(3, _Z), (2, (0.0, math.sqrt(2 / 3), math.sqrt(1 / 3)))],
    "O": [(3, (1 / _R3, 1 / _R3, 1 / _R3)), (4, _Z)],
    "I1": [(2, _X), (5, (_PHI / _S, 0.0, -1 / _S)), (3, (_PHI / _R3, 1 / (_PHI * _R3), 0.0))],
    "I2": [(2, _Z), (5, (1 / _S, 0.0, _PHI / _S)), (3, (0.0, 1 / (_PHI * _R3), _PHI / _R3))],
    "I3": [
        (2, (-1 / _S, 0.0, _PHI / _S)),
        (5, _Z),
        (3, (-_PHI / (_S * _R3), 1 / (_PHI * _R3), _PHI**2 / (_S * _R3))),
    ],
    "I4": [
        (2, (1 / _S, 0.0, _PHI / _S)),
        (5, (2 / math.sqrt(5), 0.0, 1 / math.sqrt(5))),
        (3, (_PHI / (_S * _R3), 1 / (_PHI * _R3), _PHI**2 / (_S * _R3))),
    ],
}

_MAX_ORDER = 4000  # larger than any group the names below can describe (C999h has 1998)
_NAMES_HELP = "C<n>, Ci, Cs, C<n>v, C<n>h, S<n> (n even), D<n>, T, O, I, I1, I2, I3 or I4"


@dataclass(frozen=True)
class PointGroup:
    """A parsed symmetry name: family in {C, CI, CS, CV, CH, S, D, T, O, I1, I2, I3, I4} and n."""

    family: str
    n: int = 1

    @property
    def name(self) -> str:
        """Canonical RELION spelling, e.g. C4, D2, Ci, C3v, I2."""
        special = {"CI": "Ci", "CS": "Cs"}
        if self.family in special or self.family in ("T", "O") or self.family.startswith("I"):
            return special.get(self.family, self.family)
        suffix = self.family[1:].lower()
        return f"{self.family[0]}{self.n}{suffix}"


def parse_symmetry(name: str) -> PointGroup:
    """Parse a RELION symmetry name; ValueError for names that are not a supported point group."""
    text = name.strip().upper()
    if text in ("CI", "CS", "T", "O", "I1", "I2", "I3", "I4"):
        return PointGroup(text)
    if text == "I":
        return PointGroup("I2")
    match = re.fullmatch(r"([CSD])(\d{1,3})([VH]?)", text)
    if match is None or int(match.group(2)) < 1 or (match.group(1) in "SD" and match.group(3)):
        raise ValueError(f"unknown or unsupported symmetry group '{name}': expected {_NAMES_HELP}")
    letter, n = match.group(1), int(match.group(2))
    if letter == "S" and n % 2:
        raise ValueError(f"symmetry group '{name}': the order of S<n> must be even")
    return PointGroup(letter + match.group(3), n)


def _axis_rotation(axis: tuple[float, float, float], angle: float) -> np.ndarray:
    """Rodrigues rotation matrix by ``angle`` radians about the unit ``axis``."""
    u = np.asarray(axis, dtype=np.float64)
    u = u / np.linalg.norm(u)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def _mirror(normal: tuple[float, float, float]) -> np.ndarray:
    """Reflection through the plane with the given normal."""
    u = np.asarray(normal, dtype=np.float64)
    u = u / np.linalg.norm(u)
    return np.eye(3) - 2 * np.outer(u, u)


def _generators(group: PointGroup) -> list[np.ndarray]:
    """The generating matrices RELION lists for the group (every power of each rotation axis)."""
    def axis_powers(fold: int, axis: tuple[float, float, float]) -> list[np.ndarray]:
        return [_axis_rotation(axis, 2 * math.pi * j / fold) for j in range(1, fold)]

    f, n = group.family, group.n
    if f in _POLYHEDRAL_AXES:
        return [m for fold, axis in _POLYHEDRAL_AXES[f] for m in axis_powers(fold, axis)]
    main = axis_powers(n // 2 if f == "S" else n, _Z)
    extra = {
        "C": [],
        "CI": [-np.eye(3)],
        "CS": [_mirror(_Z)],
        "CV": [_mirror((0.0, 1.0, 0.0))],
        "CH": [_mirror(_Z)],
        "S": [-np.eye(3)],
        "D": axis_powers(2, _X),
    }[f]
    return ([] if f in ("CI", "CS") else main) + extra


def _close_group(generators: list[np.ndarray], tol: float = 1e-6) -> np.ndarray:
    """Identity, the generators, then each new product (breadth first) until the set is closed (n, 3, 3)."""
    gens = np.asarray(generators, dtype=np.float64).reshape(-1, 3, 3)
    ops = frontier = np.eye(3)[None]
    while len(frontier) and len(gens):
        if len(ops) > _MAX_ORDER:
            raise RuntimeError(f"symmetry generators do not close within {_MAX_ORDER} operators")
        candidates = (frontier[:, None] @ gens[None]).reshape(-1, 9)
        known = (np.abs(candidates[:, None] - ops.reshape(1, -1, 9)).max(-1) < tol).any(1)
        repeat = np.tril(np.abs(candidates[:, None] - candidates[None]).max(-1) < tol, -1).any(1)
        frontier = candidates[~known & ~repeat].reshape(-1, 3, 3)
        ops = np.concatenate([ops, frontier])
    return ops


@functools.lru_cache(maxsize=64)
def _operators(group: PointGroup) -> np.ndarray:
    ops = _close_group(_generators(group))
    ops.setflags(write=False)
    return ops


def symmetry_operators(
    name: str, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """All operators (n, 3, 3) of the group, identity first; improper ones (det −1) for Ci, Cs, Cnv, ..."""
    return torch.as_tensor(_operators(parse_symmetry(name)).copy(), dtype=dtype, device=device)


def symmetry_order(name: str) -> int:
    """Number of operators of the group (I: 60, O: 24, T: 12, Dn: 2n, Cn: n, Ci and Cs: 2)."""
    return len(_operators(parse_symmetry(name)))


def proper_operators(
    name: str, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """The rotations (det +1) of the group (k, 3, 3), identity first."""
    ops = symmetry_operators(name, dtype, device)
    return ops[torch.linalg.det(ops) > 0]


def symmetry_aware_angular_distance(A: torch.Tensor, B: torch.Tensor, name: str) -> torch.Tensor:
    """Smallest rotation angle (radians) between A and any symmetry copy B·g of B, over (..., 3, 3).

    Only the rotations of the group count: an improper operator relates a view to its mirror image,
    which is a different image.
    """
    ops = proper_operators(name, B.dtype, B.device)
    return angular_distance(A[..., None, :, :], B[..., None, :, :] @ ops).amin(-1)


def symmetrise_volume(vol: torch.Tensor, name: str, chunk_voxels: int = 1 << 22) -> torch.Tensor:
    """Average of ``vol`` (..., z, y, x) over the group, as RELION's symmetriseMap.

    Each copy is vol(g·r), with r = (x, y, z) measured from the box centre (N//2 on each axis),
    sampled by trilinear interpolation; points that fall outside the box read 0. The output is
    built in z-slabs of about ``chunk_voxels`` voxels to bound memory.
    """
    ops = symmetry_operators(name, vol.dtype, vol.device)
    depth, height, width = vol.shape[-3:]
    batch = vol.reshape(1, -1, depth, height, width)
    kwargs = {"dtype": vol.dtype, "device": vol.device}
    sizes = torch.tensor([width, height, depth], **kwargs)
    centre = torch.div(sizes, 2, rounding_mode="floor")
    scale = 2 / (sizes - 1).clamp(min=1)  # voxel index -> grid_sample's [-1, 1] (align_corners=True)
    y, x = (torch.arange(n, **kwargs) - c for n, c in ((height, centre[1]), (width, centre[0])))
    slab = max(1, chunk_voxels // (height * width))
    out = torch.empty_like(batch)
    for z0 in range(0, depth, slab):
        z = torch.arange(z0, min(z0 + slab, depth), **kwargs) - centre[2]
        zz, yy, xx = torch.meshgrid(z, y, x, indexing="ij")
        r = torch.stack([xx, yy, zz], dim=-1)  # (x, y, z) coordinates of the output voxels
        total = torch.zeros_like(batch[:, :, : len(z)])
        for g in ops:
            grid = ((r @ g.T + centre) * scale - 1)[None]
            total += F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        out[:, :, z0 : z0 + len(z)] = total / len(ops)
    return out.reshape(vol.shape)


# Plane normals bounding RELION's icosahedral asymmetric unit (removeSymmetryEquivalentPointsGeometric)
_I_PLANES = (
    (0.0, 1.0, 0.0),
    (-0.4999999839058737, -0.8090170074556163, 0.3090169861701543),
    (0.4999999839058737, -0.8090170074556163, 0.3090169861701543),
)
_I4_PLANES = (
    (0.0, 0.0, 1.0),
    (0.187592467856686, -0.303530987314591, -0.491123477863004),
    (0.187592467856686, 0.303530987314591, -0.491123477863004),
)
_I_TILT_DEG = {"I1": 90.0, "I2": 0.0, "I3": 31.7174745559, "I4": -31.7174745559}
_T_PLANES = ((-0.942809, 0.0, 0.0), (0.471405, 0.272165, 0.7698), (0.471404, 0.816497, 0.0))
_O_PLANES = ((0.0, -1.0, 1.0), (1.0, 1.0, 0.0), (-1.0, 1.0, 0.0))
_EDGE_DEG, _EDGE_DOT = 1e-9, 1e-12  # points on a boundary count as inside (both sides of a seam)


def in_asymmetric_unit(rot: torch.Tensor, tilt: torch.Tensor, name: str) -> torch.Tensor:
    """Whether each direction (rot, tilt in radians) lies in RELION's asymmetric-unit region of the group.

    The regions are those of RELION's HealpixSampling::removeSymmetryEquivalentPointsGeometric (rot in
    [-180°, 180°]); points on a boundary are inside on both sides, so seams hold duplicates that
    a later pass removes.
    """
    group = parse_symmetry(name)
    f, n = group.family, group.n
    wrapped = rot - 2 * math.pi * torch.ceil((rot - math.pi) / (2 * math.pi))  # (-π, π]
    rot_deg = wrapped * 180.0 / math.pi
    tilt_deg = tilt * 180.0 / math.pi
    upper = tilt_deg <= 90.0 + _EDGE_DEG

    def rot_within(lo: float, hi: float) -> torch.Tensor:
        return (rot_deg >= lo - _EDGE_DEG) & (rot_deg <= hi + _EDGE_DEG)

    def between_planes(normals: tuple, transform: torch.Tensor | None = None, sign: float = 1.0) -> torch.Tensor:
        v = torch.as_tensor(normals, dtype=rot.dtype, device=rot.device)
        v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
        if transform is not None:
            v = v @ transform.T
        dots = euler_to_direction(rot, tilt) @ v.T
        return (sign * dots >= -_EDGE_DOT).all(-1)

    if f == "C":
        return rot_within(-180.0 / n, 180.0 / n)
    if f in ("CI", "CS") or (f == "D" and n == 1):
        return upper
    if f == "CV":
        return rot_within(0.0, 180.0 / n)
    if f == "CH":
        return rot_within(-180.0 / n, 180.0 / n) & upper
    if f == "S":
        return rot_within(-360.0 / n, 360.0 / n) & upper
    if f == "D":
        return rot_within(-180.0 / n + 90.0, 180.0 / n + 90.0) & upper
    on_zero = rot_deg.abs() <= _EDGE_DEG
    if f == "T":
        return (rot_within(90.0, 150.0) | on_zero) & between_planes(_T_PLANES)
    if f == "O":
        return ((rot_within(45.0, 135.0) & upper) | on_zero) & between_planes(_O_PLANES)
    zero = torch.zeros((), dtype=rot.dtype, device=rot.device)
    turn = euler_to_matrix(zero, zero + math.radians(_I_TILT_DEG[f]), zero)  # RELION's Euler_angles2matrix(0, t, 0)
    if f == "I4":
        return between_planes(_I4_PLANES, turn, sign=-1.0)
    return between_planes(_I_PLANES, turn)
