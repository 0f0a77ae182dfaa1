"""HEALPix pixel centres in NEST ordering, as RELION's Healpix_Base (nside = 2^order).

A direction's NEST index p at order k has the children 4^m·p ... 4^m·p + 4^m − 1 at order k + m.
Angles are radians: theta (colatitude) in [0, π] and phi in [0, 2π); RELION takes rot = phi and
tilt = theta. z = cos(theta) and phi follow RELION's Healpix_Base::pix2ang_z_phi operation for
operation (so they are bitwise RELION's), and theta = acos(z) as RELION takes it.
"""

from __future__ import annotations

import math

import torch

_JRLL = (2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4)  # ring number of each base face's southern corner, in nside
_JPLL = (1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7)  # longitude of each base face's centre, in π/4

# (shift, mask) steps that gather the even bits of an int64 into its low half
_COMPRESS = (
    (1, 0x3333333333333333),
    (2, 0x0F0F0F0F0F0F0F0F),
    (4, 0x00FF00FF00FF00FF),
    (8, 0x0000FFFF0000FFFF),
    (16, 0x00000000FFFFFFFF),
)


def nside(order: int) -> int:
    """HEALPix resolution parameter 2^order."""
    if order < 0 or order > 29:
        raise ValueError(f"HEALPix order must be in 0..29, got {order}")
    return 1 << order


def npix(order: int) -> int:
    """Number of pixels 12·4^order."""
    return 12 * nside(order) ** 2


def _compress_even_bits(v: torch.Tensor) -> torch.Tensor:
    """Bits 0, 2, 4, ... of v packed into bits 0, 1, 2, ..."""
    v = v & 0x5555555555555555
    for shift, mask in _COMPRESS:
        v = (v | (v >> shift)) & mask
    return v


def spread_bits(v: torch.Tensor) -> torch.Tensor:
    """Inverse of the even-bit compression: bits 0, 1, 2, ... of v (< 2^32) to bits 0, 2, 4, ..."""
    v = v & 0x00000000FFFFFFFF
    lower_masks = [0x5555555555555555] + [mask for _, mask in _COMPRESS[:-1]]
    for (shift, _), mask in zip(reversed(_COMPRESS), reversed(lower_masks)):
        v = (v | (v << shift)) & mask
    return v


def nest_to_xyf(order: int, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Face-local coordinates (ix, iy, face) of NEST pixels (int64 tensors)."""
    pixels = torch.as_tensor(pixels, dtype=torch.int64)
    face = pixels >> (2 * order)
    local = pixels & (nside(order) ** 2 - 1)
    return _compress_even_bits(local), _compress_even_bits(local >> 1), face


def xyf_to_nest(order: int, ix: torch.Tensor, iy: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
    """NEST pixel indices of face-local coordinates (ix, iy) on base face ``face``."""
    return (face << (2 * order)) + spread_bits(ix) + (spread_bits(iy) << 1)


def pix2ang_nest(order: int, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre (theta, phi) in radians, float64, of NEST pixel indices (any shape) at ``order``."""
    ns = nside(order)
    ix, iy, face = nest_to_xyf(order, pixels)
    jrll = torch.tensor(_JRLL, dtype=torch.int64, device=face.device)[face]
    jpll = torch.tensor(_JPLL, dtype=torch.int64, device=face.device)[face]
    fact2 = 4.0 / npix(order)
    fact1 = (ns << 1) * fact2

    jr = (jrll << order) - ix - iy - 1
    north, south = jr < ns, jr > 3 * ns
    nr = torch.where(north, jr, torch.where(south, 4 * ns - jr, torch.full_like(jr, ns)))
    polar_z = (nr * nr).double() * fact2
    z = torch.where(north, 1 - polar_z, torch.where(south, polar_z - 1, (2 * ns - jr).double() * fact1))
    kshift = torch.where(north | south, torch.zeros_like(jr), (jr - ns) & 1)

    jp = torch.div(jpll * nr + ix - iy + 1 + kshift, 2, rounding_mode="trunc")  # numerator is always even
    jp = torch.where(jp > 4 * ns, jp - 4 * ns, jp)
    jp = torch.where(jp < 1, jp + 4 * ns, jp)
    phi = (jp.double() - (kshift.double() + 1) * 0.5) * ((math.pi / 2) / nr.double())
    return torch.acos(z), phi


def max_pixrad(order: int) -> float:
    """Largest angle (radians) between a pixel centre and its corners (Healpix_Base::max_pixrad)."""
    ns = nside(order)
    t1 = (1.0 - 1.0 / ns) ** 2
    za, phia, zb = 2.0 / 3.0, math.pi / (4 * ns), 1 - t1 / 3  # vb lies at phi = 0
    sa, sb = math.sqrt((1 - za) * (1 + za)), math.sqrt((1 - zb) * (1 + zb))
    va = (sa * math.cos(phia), sa * math.sin(phia), za)
    vb = (sb, 0.0, zb)
    cross = (va[1] * vb[2] - va[2] * vb[1], va[2] * vb[0] - va[0] * vb[2], va[0] * vb[1] - va[1] * vb[0])
    return math.atan2(math.hypot(*cross), va[0] * vb[0] + va[1] * vb[1] + va[2] * vb[2])
