"""Rotations in RELION's ZYZ Euler convention.

A = Rz(psi) · Ry(tilt) · Rz(rot), with Rz(t) = [[c, s, 0], [-s, c, 0], [0, 0, 1]] and
Ry(t) = [[c, 0, -s], [0, 1, 0], [s, 0, c]] (RELION's Euler_angles2matrix). Angles are in
radians here; files hold degrees. A 2D projection is the central slice F3(Aᵀ·(kx, ky, 0)).
The viewing direction of A is its third row, Aᵀ·ez = (sin tilt cos rot, sin tilt sin rot, cos tilt).
Quaternions are (w, x, y, z), scalar first, and stand for the matrix A itself.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

# RELION's Euler_matrix2angles compares against single-precision epsilon even in double builds.
_FLT_EPSILON = 1.1920928955078125e-07


def euler_to_matrix(rot: torch.Tensor, tilt: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """RELION rotation matrices A (..., 3, 3) from Euler angles (...) in radians."""
    ca, sa = torch.cos(rot), torch.sin(rot)
    cb, sb = torch.cos(tilt), torch.sin(tilt)
    cg, sg = torch.cos(psi), torch.sin(psi)
    cc, cs = cb * ca, cb * sa
    sc, ss = sb * ca, sb * sa
    rows = [
        torch.stack([cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb], dim=-1),
        torch.stack([-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb], dim=-1),
        torch.stack([sc, ss, cb], dim=-1),
    ]
    return torch.stack(rows, dim=-2)


def euler_degrees_to_matrix(
    rot: torch.Tensor | np.ndarray | float,
    tilt: torch.Tensor | np.ndarray | float,
    psi: torch.Tensor | np.ndarray | float,
) -> torch.Tensor:
    """Matrices (..., 3, 3) from STAR-file Euler angles in degrees: float64 unless all three are float tensors."""
    given = [a for a in (rot, tilt, psi) if torch.is_tensor(a)]
    device = given[0].device if given else None
    dtype = torch.float64
    if len(given) == 3 and all(a.is_floating_point() for a in given):
        dtype = functools.reduce(torch.promote_types, [a.dtype for a in given])
    angles = [torch.deg2rad(torch.as_tensor(a).to(dtype=dtype, device=device)) for a in (rot, tilt, psi)]
    rot_t, tilt_t, psi_t = torch.broadcast_tensors(*angles)
    return euler_to_matrix(rot_t, tilt_t, psi_t)


def _sign(x: torch.Tensor) -> torch.Tensor:
    """RELION's SGN: +1 for x >= 0, -1 otherwise."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def matrix_to_euler(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Euler angles (rot, tilt, psi) in radians of matrices A (..., 3, 3), as RELION's Euler_matrix2angles.

    rot and psi lie in [-π, π], tilt in [0, π]. When |sin tilt| <= 16·FLT_EPSILON (gimbal lock) rot is 0,
    tilt is 0 or π by the sign of A[2, 2], and psi carries the whole in-plane rotation.
    """
    a02, a12 = A[..., 0, 2], A[..., 1, 2]
    abs_sb = torch.sqrt(a02 * a02 + a12 * a12)
    gamma = torch.atan2(a12, -a02)
    alpha = torch.atan2(A[..., 2, 1], A[..., 2, 0])
    sin_g = torch.sin(gamma)
    sign_sb = torch.where(
        sin_g.abs() < _FLT_EPSILON,
        _sign(-a02 / torch.cos(gamma)),
        torch.where(sin_g > 0, _sign(a12), -_sign(a12)),
    )
    beta = torch.atan2(sign_sb * abs_sb, A[..., 2, 2])

    top = _sign(A[..., 2, 2]) > 0
    gamma_lock = torch.where(top, torch.atan2(-A[..., 1, 0], A[..., 0, 0]), torch.atan2(A[..., 1, 0], -A[..., 0, 0]))
    beta_lock = torch.where(top, torch.zeros_like(abs_sb), torch.full_like(abs_sb, math.pi))
    regular = abs_sb > 16 * _FLT_EPSILON
    rot = torch.where(regular, alpha, torch.zeros_like(alpha))
    tilt = torch.where(regular, beta, beta_lock)
    psi = torch.where(regular, gamma, gamma_lock)
    return rot, tilt, psi


def euler_to_direction(rot: torch.Tensor, tilt: torch.Tensor) -> torch.Tensor:
    """Unit viewing directions (..., 3) = (sin tilt cos rot, sin tilt sin rot, cos tilt), angles in radians."""
    st = torch.sin(tilt)
    return torch.stack([st * torch.cos(rot), st * torch.sin(rot), torch.cos(tilt)], dim=-1)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) from quaternions (..., 4) = (w, x, y, z); q need not be normalised."""
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rows = [
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], dim=-1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], dim=-1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], dim=-1),
    ]
    return torch.stack(rows, dim=-2)


def matrix_to_quaternion(A: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (..., 4) = (w, x, y, z), w >= 0, of rotation matrices A (..., 3, 3).

    Shepperd's method: each of the four candidate formulas is evaluated and the one dividing by the
    largest component is kept, so the result is accurate for every rotation angle.
    """
    m00, m01, m02 = A[..., 0, 0], A[..., 0, 1], A[..., 0, 2]
    m10, m11, m12 = A[..., 1, 0], A[..., 1, 1], A[..., 1, 2]
    m20, m21, m22 = A[..., 2, 0], A[..., 2, 1], A[..., 2, 2]
    # four_q2[i] = 4·q_i², for i in (w, x, y, z)
    four_q2 = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1)
    # candidate i holds 4·q_i·q (all four components), from the off-diagonal sums and differences
    candidates = torch.stack(
        [
            torch.stack([four_q2[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, four_q2[..., 1], m01 + m10, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m01 + m10, four_q2[..., 2], m12 + m21], dim=-1),
            torch.stack([m10 - m01, m02 + m20, m12 + m21, four_q2[..., 3]], dim=-1),
        ],
        dim=-2,
    )
    best = four_q2.argmax(dim=-1, keepdim=True)
    chosen = torch.take_along_dim(candidates, best[..., None], dim=-2).squeeze(-2)
    q = chosen / torch.linalg.vector_norm(chosen, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def angular_distance(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Rotation angle (radians, [0, π]) of Aᵀ·B for broadcastable matrix batches (..., 3, 3).

    Uses atan2(|axis·2 sin θ|, 2 cos θ), accurate for small and large angles alike.
    """
    M = A.transpose(-1, -2) @ B
    axis = torch.stack([M[..., 2, 1] - M[..., 1, 2], M[..., 0, 2] - M[..., 2, 0], M[..., 1, 0] - M[..., 0, 1]], dim=-1)
    trace = M[..., 0, 0] + M[..., 1, 1] + M[..., 2, 2]
    return torch.atan2(torch.linalg.vector_norm(axis, dim=-1), trace - 1)


def direction_distance(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Angle (radians, [0, π]) between broadcastable direction vectors (..., 3)."""
    cross = torch.linalg.vector_norm(torch.linalg.cross(*torch.broadcast_tensors(u, v), dim=-1), dim=-1)
    return torch.atan2(cross, (u * v).sum(-1))


def random_rotations(
    n: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """n rotation matrices (n, 3, 3) drawn uniformly (Haar measure) from normalised Gaussian quaternions.

    Numbers are drawn on the generator's device (CPU by default) and moved to ``device``.
    """
    draw_device = generator.device if generator is not None else device
    q = torch.randn(n, 4, generator=generator, dtype=dtype, device=draw_device)
    return quaternion_to_matrix(q).to(device=device if device is not None else q.device)


def rotation_angle(matrices: torch.Tensor) -> torch.Tensor:
    """Rotation angle (radians, [0, π]) of 2×2 or 3×3 rotation matrices (..., D, D)."""
    if matrices.shape[-1] == 2:
        return torch.atan2(matrices[..., 1, 0] - matrices[..., 0, 1], matrices[..., 0, 0] + matrices[..., 1, 1]).abs()
    trace = matrices.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.acos(((trace - 1.0) / 2.0).clamp(-1.0, 1.0))
