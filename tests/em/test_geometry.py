"""Euler angles, quaternions, distances and random rotations against RELION's conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from vitreo.em.geometry import (
    angular_distance,
    direction_distance,
    euler_degrees_to_matrix,
    euler_to_direction,
    euler_to_matrix,
    matrix_to_euler,
    matrix_to_quaternion,
    quaternion_to_matrix,
    random_rotations,
)


def _design_matrix(rot: float, tilt: float, psi: float) -> np.ndarray:
    """A = Rz(psi)·Ry(tilt)·Rz(rot) with DESIGN.md's Rz and Ry, built independently."""
    def rz(t: float) -> np.ndarray:
        return np.array([[math.cos(t), math.sin(t), 0], [-math.sin(t), math.cos(t), 0], [0, 0, 1]])

    def ry(t: float) -> np.ndarray:
        return np.array([[math.cos(t), 0, -math.sin(t)], [0, 1, 0], [math.sin(t), 0, math.cos(t)]])

    return rz(psi) @ ry(tilt) @ rz(rot)


def _random_angles(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    rot = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    tilt = 0.01 + torch.rand(n, generator=g, dtype=torch.float64) * (math.pi - 0.02)
    psi = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    return rot, tilt, psi


def test_matrix_matches_design_formula():
    rot, tilt, psi = _random_angles(20)
    A = euler_to_matrix(rot, tilt, psi)
    for i in range(20):
        expected = _design_matrix(rot[i].item(), tilt[i].item(), psi[i].item())
        np.testing.assert_allclose(A[i].numpy(), expected, atol=1e-14)


def test_matrices_are_rotations():
    A = euler_to_matrix(*_random_angles(500))
    eye = torch.eye(3, dtype=torch.float64).expand(500, 3, 3)
    torch.testing.assert_close(A @ A.transpose(-1, -2), eye, atol=1e-13, rtol=0)
    torch.testing.assert_close(torch.linalg.det(A), torch.ones(500, dtype=torch.float64))


def test_euler_round_trip_away_from_gimbal_lock():
    rot, tilt, psi = _random_angles(1000, seed=1)
    rot2, tilt2, psi2 = matrix_to_euler(euler_to_matrix(rot, tilt, psi))
    torch.testing.assert_close(rot2, rot, atol=1e-10, rtol=0)
    torch.testing.assert_close(tilt2, tilt, atol=1e-10, rtol=0)
    torch.testing.assert_close(psi2, psi, atol=1e-10, rtol=0)


def test_matrix_to_euler_gimbal_lock_branches():
    # tilt 0: RELION puts the whole in-plane angle into psi
    f64 = {"dtype": torch.float64}
    A = euler_to_matrix(torch.tensor(0.3, **f64), torch.tensor(0.0, **f64), torch.tensor(0.5, **f64))
    rot, tilt, psi = matrix_to_euler(A)
    assert (rot.item(), tilt.item()) == (0.0, 0.0)
    assert psi.item() == pytest.approx(0.8, abs=1e-12)
    # tilt π: rot 0, tilt π, and the angles rebuild the same matrix
    A = euler_to_matrix(torch.tensor(0.3, **f64), torch.tensor(math.pi, **f64), torch.tensor(0.5, **f64))
    rot, tilt, psi = matrix_to_euler(A)
    assert (rot.item(), tilt.item()) == (0.0, math.pi)
    torch.testing.assert_close(euler_to_matrix(rot, tilt, psi), A, atol=1e-12, rtol=0)


def test_degrees_convenience_and_known_matrix():
    A = euler_degrees_to_matrix(90.0, 0.0, 0.0)
    expected = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(A, expected, atol=1e-15, rtol=0)
    batch = euler_degrees_to_matrix(np.array([10.0, 20.0]), 30.0, torch.tensor([40.0, 50.0]))
    assert batch.shape == (2, 3, 3) and batch.dtype == torch.float64


def test_direction_is_third_row():
    rot, tilt, psi = _random_angles(50, seed=2)
    torch.testing.assert_close(euler_to_direction(rot, tilt), euler_to_matrix(rot, tilt, psi)[:, 2, :])


def test_quaternion_round_trip_including_half_turns():
    half_turns = torch.diag_embed(torch.tensor([[1.0, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64))
    A = torch.cat([random_rotations(200, torch.Generator().manual_seed(3)), half_turns])
    q = matrix_to_quaternion(A)
    assert (q[:, 0] >= 0).all()
    torch.testing.assert_close(torch.linalg.vector_norm(q, dim=-1), torch.ones(len(q), dtype=torch.float64))
    torch.testing.assert_close(quaternion_to_matrix(q), A, atol=1e-12, rtol=0)


def test_angular_distance_small_and_large_angles():
    A = random_rotations(3, torch.Generator().manual_seed(4))
    axis = torch.tensor([0.2, -0.5, 0.8], dtype=torch.float64)
    axis = axis / axis.norm()
    for angle in (1e-7, 0.3, 2.0, math.pi - 1e-6):
        q = torch.cat([torch.tensor([math.cos(angle / 2)], dtype=torch.float64), math.sin(angle / 2) * axis])
        B = A @ quaternion_to_matrix(q)
        expected = torch.full((3,), angle, dtype=torch.float64)
        torch.testing.assert_close(angular_distance(A, B), expected, rtol=1e-8, atol=1e-12)
        torch.testing.assert_close(angular_distance(B, A), angular_distance(A, B))


def test_direction_distance():
    x = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    v = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1e-9, 0.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([math.pi / 2, 1e-9, math.pi], dtype=torch.float64)
    torch.testing.assert_close(direction_distance(x, v), expected)


def test_random_rotations_are_haar_uniform():
    A = random_rotations(20000, torch.Generator().manual_seed(5))
    assert A.shape == (20000, 3, 3)
    torch.testing.assert_close(torch.linalg.det(A), torch.ones(20000, dtype=torch.float64))
    assert A.mean(0).abs().max() < 0.02  # E[A] = 0 for the Haar measure
    rot, tilt, psi = matrix_to_euler(A)
    # uniform rotations: cos(tilt) uniform on [-1, 1] (tilt density ∝ sin), rot and psi uniform
    assert stats.kstest(torch.cos(tilt).numpy(), stats.uniform(-1, 2).cdf).pvalue > 0.01
    assert stats.kstest(rot.numpy(), stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 0.01
    assert stats.kstest(psi.numpy(), stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 0.01
    # uniform Euler angles are NOT uniform rotations: the same test must reject them
    uniform_tilt = np.random.default_rng(0).uniform(0, math.pi, 20000)
    assert stats.kstest(np.cos(uniform_tilt), stats.uniform(-1, 2).cdf).pvalue < 1e-6


def test_random_rotations_reproducible_and_dtype():
    a = random_rotations(4, torch.Generator().manual_seed(6), dtype=torch.float32)
    b = random_rotations(4, torch.Generator().manual_seed(6), dtype=torch.float32)
    assert a.dtype == torch.float32 and torch.equal(a, b)


def test_float32_inputs_stay_float32():
    rot, tilt, psi = (t.float() for t in _random_angles(5))
    A = euler_to_matrix(rot, tilt, psi)
    assert A.dtype == torch.float32
    assert all(t.dtype == torch.float32 for t in matrix_to_euler(A))
    assert angular_distance(A, A).abs().max() < 1e-3
