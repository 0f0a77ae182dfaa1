"""Point groups in RELION's conventions: orders, closure, axes, asymmetric units, symmetrisation."""

from __future__ import annotations

import math

import mrcfile
import numpy as np
import pytest
import torch

from vitreo.em.geometry import angular_distance, random_rotations
from vitreo.em.symmetry import (
    in_asymmetric_unit,
    parse_symmetry,
    proper_operators,
    symmetrise_volume,
    symmetry_aware_angular_distance,
    symmetry_operators,
    symmetry_order,
)

ORDERS = {
    **{"C1": 1, "C2": 2, "C5": 5, "C12": 12, "Ci": 2, "Cs": 2, "C3v": 6, "C4h": 8, "S4": 4, "S6": 6},
    **{"D1": 2, "D2": 4, "D3": 6, "D7": 14, "T": 12, "O": 24},
    **{"I": 60, "I1": 60, "I2": 60, "I3": 60, "I4": 60},
}
IMPROPER = {"Ci", "Cs", "C3v", "C4h", "S4", "S6"}

# The rotation axes RELION lists in SymList::fill_symmetry_class (src/symmetries.cpp), verbatim
RELION_AXES = {
    "T": [(3, (0.0, 0.0, 1.0)), (2, (0.0, 0.816496, 0.577350))],
    "O": [(3, (0.5773502, 0.5773502, 0.5773502)), (4, (0.0, 0.0, 1.0))],
    "I2": [(2, (0.0, 0.0, 1.0)), (5, (0.525731114, 0.0, 0.850650807)), (3, (0.0, 0.356822076, 0.934172364))],
    "I1": [
        (2, (1.0, 0.0, 0.0)),
        (5, (0.85065080702670, 0.0, -0.5257311142635)),
        (3, (0.9341723640, 0.3568220765, 0.0)),
    ],
    "I3": [
        (2, (-0.5257311143, 0.0, 0.8506508070)),
        (5, (0.0, 0.0, 1.0)),
        (3, (-0.4911234778630044, 0.3568220764705179, 0.7946544753759428)),
    ],
    "I4": [
        (2, (0.5257311143, 0.0, 0.8506508070)),
        (5, (0.8944271932547096, 0.0, 0.4472135909903704)),
        (3, (0.4911234778630044, 0.3568220764705179, 0.7946544753759428)),
    ],
}
X, Y, Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def _has_rotation(ops: torch.Tensor, fold: int, axis: tuple[float, float, float], tol: float = 1e-6) -> bool:
    """Whether some operator turns by 360°/fold about ``axis``."""
    a = torch.tensor(axis, dtype=torch.float64)
    a = a / a.norm()
    fixes_axis = (torch.linalg.vector_norm(ops @ a - a, dim=-1) < tol) & (torch.linalg.det(ops) > 0)
    angle = torch.acos(((ops.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))
    return bool((fixes_axis & ((angle - 2 * math.pi / fold).abs() < tol)).any())


@pytest.mark.parametrize("name,order", ORDERS.items())
def test_order_closure_and_orthogonality(name, order):
    ops = symmetry_operators(name)
    assert symmetry_order(name) == order == len(ops)
    torch.testing.assert_close(ops[0], torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(ops @ ops.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(order, 3, 3))
    dets = torch.linalg.det(ops)
    assert ((dets - 1).abs() < 1e-12).all() != (name in IMPROPER)
    # every product of two operators is an operator
    products = (ops[:, None] @ ops[None]).reshape(-1, 1, 9)
    assert ((products - ops.reshape(1, -1, 9)).abs().amax(-1) < 1e-9).any(-1).all()
    # and no operator is listed twice
    assert ((ops.reshape(-1, 1, 9) - ops.reshape(1, -1, 9)).abs().amax(-1) < 1e-9).sum() == order


@pytest.mark.parametrize("name", ["x2", "C0", "S3", "C4x", "D2h", "D3v", "Td", "Oh", "I5", "Ih", "", "D", "4"])
def test_unknown_or_unsupported_names_raise(name):
    with pytest.raises(ValueError, match="symmetry group"):
        symmetry_operators(name)


def test_names_are_case_insensitive_and_i_is_i2():
    assert parse_symmetry("c3v").name == "C3v" and parse_symmetry(" d2 ").name == "D2"
    assert torch.equal(symmetry_operators("i"), symmetry_operators("I2"))


@pytest.mark.parametrize("name", RELION_AXES)
def test_generator_axes_match_relion_source(name):
    ops = symmetry_operators(name)
    for fold, axis in RELION_AXES[name]:
        assert _has_rotation(ops, fold, axis, tol=1e-6), (name, fold, axis)


def test_axis_orientations():
    assert _has_rotation(symmetry_operators("C6"), 6, Z) and not _has_rotation(symmetry_operators("C6"), 2, X)
    assert all(_has_rotation(symmetry_operators("D2"), 2, a) for a in (Z, X, Y))
    assert _has_rotation(symmetry_operators("D5"), 5, Z) and _has_rotation(symmetry_operators("D5"), 2, X)
    assert not _has_rotation(symmetry_operators("D5"), 2, Y)
    assert all(_has_rotation(symmetry_operators("O"), 4, a) for a in (X, Y, Z))
    phi = (1 + math.sqrt(5)) / 2
    i2, i1 = symmetry_operators("I2"), symmetry_operators("I1")
    # I2 (Crowther 222): 2-folds on x, y, z and the 5-folds nearest z in the xz plane at ±31.7°
    assert all(_has_rotation(i2, 2, a) for a in (X, Y, Z))
    assert _has_rotation(i2, 5, (1.0, 0.0, phi)) and _has_rotation(i2, 5, (-1.0, 0.0, phi))
    assert not _has_rotation(i2, 5, (0.0, 1.0, phi))
    # I1 is I2 turned 90° about z: the same 5-fold lies in the yz plane
    assert all(_has_rotation(i1, 2, a) for a in (X, Y, Z)) and _has_rotation(i1, 5, (0.0, 1.0, phi))
    # I3 and I4: a 5-fold on z, a 2-fold on y, the second 5-fold in the xz plane below or above
    for name, sign in (("I3", -1.0), ("I4", 1.0)):
        ops = symmetry_operators(name)
        assert _has_rotation(ops, 5, Z) and _has_rotation(ops, 2, Y)
        assert _has_rotation(ops, 5, (2.0, 0.0, sign * 1.0))


def test_improper_operators():
    torch.testing.assert_close(symmetry_operators("Ci")[1], -torch.eye(3, dtype=torch.float64))
    mirror_z = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    torch.testing.assert_close(symmetry_operators("Cs")[1], mirror_z)
    assert len(proper_operators("C4h")) == 4 and len(proper_operators("I")) == 60


@pytest.mark.parametrize(
    "name", ["C1", "C7", "Ci", "Cs", "C1v", "C3v", "C4h", "S4", "S6", "D1", "D3", "D6", "T", "O", "I1", "I2", "I3", "I4"],
)
def test_asymmetric_unit_region_is_a_fundamental_domain(name):
    """RELION's region holds exactly one symmetry mate g·v of a generic direction v."""
    v = torch.randn(2000, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    v = v / v.norm(dim=-1, keepdim=True)
    mates = torch.einsum("gij,nj->ngi", symmetry_operators(name), v)
    rot, tilt = torch.atan2(mates[..., 1], mates[..., 0]), torch.acos(mates[..., 2].clamp(-1, 1))
    inside = in_asymmetric_unit(rot, tilt, name)
    assert (inside.sum(-1) == 1).all()


def test_symmetry_aware_distance():
    A = random_rotations(50, torch.Generator().manual_seed(8))
    ops = symmetry_operators("D7")
    which = torch.arange(50) % len(ops)
    B = A @ ops[which].transpose(-1, -2)
    assert symmetry_aware_angular_distance(A, B, "D7").max() < 1e-6
    assert angular_distance(A, B)[which > 0].min() > 0.1
    C = random_rotations(50, torch.Generator().manual_seed(9))
    d = symmetry_aware_angular_distance(A, C, "O")
    assert (d <= angular_distance(A, C) + 1e-12).all() and d.max() < angular_distance(A, C).max()
    torch.testing.assert_close(symmetry_aware_angular_distance(A, C, "C1"), angular_distance(A, C))


def test_symmetrise_is_invariant_under_grid_rotations():
    g = torch.Generator().manual_seed(10)
    vol = torch.rand(2, 12, 12, 12, generator=g)
    out = symmetrise_volume(vol, "C4")
    assert out.shape == vol.shape and out.dtype == torch.float32
    # a quarter turn about z maps the grid onto itself about the centre N//2 = 6 (roll by 1 to centre it)
    shifted = torch.roll(out, shifts=(-1, -1), dims=(-2, -1))[..., :11, :11]
    torch.testing.assert_close(torch.rot90(shifted, 1, dims=(-2, -1)), shifted, atol=1e-5, rtol=0)
    torch.testing.assert_close(symmetrise_volume(vol, "C1"), vol, atol=1e-5, rtol=0)
    torch.testing.assert_close(symmetrise_volume(vol, "D3", chunk_voxels=100), symmetrise_volume(vol, "D3"))


def _relative_change(vol: torch.Tensor, name: str) -> float:
    return ((symmetrise_volume(vol, name) - vol).norm() / vol.norm()).item()


def test_betagal_is_d2_in_relion_axes(shared_data):
    vol = torch.from_numpy(mrcfile.read(shared_data / "maps" / "betaGal.mrc").astype(np.float32))
    assert _relative_change(vol, "D2") < 0.01
    assert _relative_change(vol, "C4") > 0.2
    assert _relative_change(vol, "D3") > 0.2
