"""The search grids of the E-step: orientations and translations, coarse and oversampled.

Every grid has a coarse level and a fine level made by adaptive oversampling (order m): each
coarse point has ``n_children`` fine children, and fine ids are coarse id · n_children + j, so
the parent of fine id f is f // n_children. The E-step scores all coarse points, then only the
children of significant ones.

An orientation grid yields rotation matrices A (D × D): for 2D classification the in-plane block
of RELION's Euler matrix, A = Rz(psi)[:2, :2] = [[cos ψ, sin ψ], [−sin ψ, cos ψ]], applied to a
2D reference as out(r) = ref(Aᵀ r) (see :class:`vitreo.em.projector.Projector`); for 3D
references the full Euler matrix. As RELION, a grid can be perturbed by a random fraction of its
step each iteration (rlnSamplingPerturbInstance × rlnSamplingPerturbFactor).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Protocol

import torch

from vitreo.em.geometry import euler_to_matrix
from vitreo.em.sampling import (
    Directions,
    angular_step_deg,
    asymmetric_unit_directions,
    oversample_directions,
    oversample_psi,
    oversample_translations,
    psi_angles,
    translations,
)


class OrientationSampling(Protocol):
    """What the E-step needs of an orientation grid (2D in-plane or 3D directions × psi)."""

    ndim: int  #: dimension D of the rotation matrices (2 for image references, 3 for maps)
    n_children: int  #: fine orientations per coarse one

    @property
    def n_coarse(self) -> int: ...

    @property
    def step_deg(self) -> float:
        """Angular step of the coarse grid (degrees)."""
        ...

    def coarse_matrices(self) -> torch.Tensor:
        """(n_coarse, D, D) float64."""
        ...

    def fine_angles(self, fine_ids: torch.Tensor) -> torch.Tensor:
        """Euler angles (n, 3) (rot, tilt, psi) in radians of fine orientations."""
        ...

    def fine_matrices(self, fine_ids: torch.Tensor) -> torch.Tensor:
        """(n, D, D) float64 of fine orientations."""
        ...


@dataclass(frozen=True)
class InPlaneSampling:
    """In-plane angles for 2D references: psi = (i + perturbation) · step, i = 0 … n−1 (radians).

    ``step_deg`` is RELION's --psi_step, rounded to 360/ceil(360/step); the fine grid splits each
    step into 2^oversampling.
    """

    step_request_deg: float
    oversampling: int = 1
    perturbation: float = 0.0
    ndim: int = 2

    @property
    def psi(self) -> torch.Tensor:
        """Coarse angles (n_coarse,) radians, float64."""
        coarse = psi_angles(self.step_request_deg)
        return coarse + self.perturbation * self.step_rad

    @property
    def n_coarse(self) -> int:
        return math.ceil(360.0 / self.step_request_deg)

    @property
    def n_children(self) -> int:
        return 1 << self.oversampling

    @property
    def step_rad(self) -> float:
        return 2.0 * math.pi / self.n_coarse

    @property
    def step_deg(self) -> float:
        return 360.0 / self.n_coarse

    @property
    def fine_step_deg(self) -> float:
        return self.step_deg / self.n_children

    def coarse_matrices(self) -> torch.Tensor:
        return in_plane_matrices(self.psi)

    def fine_psi(self, fine_ids: torch.Tensor) -> torch.Tensor:
        """Fine angles (n,) radians of fine ids."""
        children = oversample_psi(self.psi, self.step_rad, self.oversampling).reshape(-1)
        return children.to(fine_ids.device)[fine_ids]

    def fine_angles(self, fine_ids: torch.Tensor) -> torch.Tensor:
        psi = self.fine_psi(fine_ids)
        zero = torch.zeros_like(psi)
        return torch.stack([zero, zero, psi], dim=-1)

    def fine_matrices(self, fine_ids: torch.Tensor) -> torch.Tensor:
        return in_plane_matrices(self.fine_psi(fine_ids))

    def nearest_fine(self, psi: torch.Tensor) -> torch.Tensor:
        """The fine id (int64) nearest to each angle ``psi`` (radians)."""
        fine_step = self.step_rad / self.n_children
        first = float(self.fine_psi(torch.zeros(1, dtype=torch.long))[0])
        n = self.n_coarse * self.n_children
        return torch.round((psi.double() - first) / fine_step).long() % n


@dataclass(frozen=True)
class DirectionSampling:
    """Orientations for 3D references: HEALPix directions of ``order`` in the asymmetric unit of
    ``symmetry`` × in-plane angles psi (``psi_step_deg``, default RELION's step for the order).

    Coarse id = direction · n_psi + psi index; its 4^m · 2^m children (m = oversampling) are the
    HEALPix children of the direction at order + m × the psi children, fine id = coarse id ·
    n_children + direction child · 2^m + psi child. The psi grid moves by perturbation · step;
    with ``perturb_directions`` rot and tilt move by perturbation · step too (RELION perturbs all
    three, so that assignments keep changing by about that much once they have settled).
    """

    order: int
    oversampling: int = 1
    symmetry: str = "C1"
    psi_step_deg: float | None = None
    perturbation: float = 0.0
    ndim: int = 3
    perturb_directions: bool = False

    @property
    def _direction_shift(self) -> float:
        """Radians added to rot and tilt."""
        return self.perturbation * math.radians(self.step_deg) if self.perturb_directions else 0.0

    @property
    def directions(self) -> Directions:
        return _directions(self.order, self.symmetry)

    @property
    def step_deg(self) -> float:
        return angular_step_deg(self.order)

    @property
    def psi(self) -> torch.Tensor:
        """Coarse in-plane angles (n_psi,) radians."""
        step = self.psi_step_deg if self.psi_step_deg is not None else self.step_deg
        coarse = psi_angles(step)
        return coarse + self.perturbation * (2 * math.pi / len(coarse))

    @property
    def n_coarse(self) -> int:
        return len(self.directions.pixel) * len(self.psi)

    @property
    def n_children(self) -> int:
        return (1 << (2 * self.oversampling)) * (1 << self.oversampling)

    def coarse_matrices(self) -> torch.Tensor:
        directions, psi = self.directions, self.psi
        rot = (directions.rot + self._direction_shift)[:, None].expand(-1, len(psi))
        tilt = (directions.tilt + self._direction_shift)[:, None].expand(-1, len(psi))
        return euler_to_matrix(rot, tilt, psi[None, :].expand_as(rot)).reshape(-1, 3, 3)

    def fine_angles(self, fine_ids: torch.Tensor) -> torch.Tensor:
        psi = self.psi
        n_psi, psi_children = len(psi), 1 << self.oversampling
        coarse, child = fine_ids // self.n_children, fine_ids % self.n_children
        direction, psi_index = coarse // n_psi, coarse % n_psi
        rot, tilt = oversample_directions(self.order, self.directions.pixel[direction], self.oversampling)
        rot, tilt = rot + self._direction_shift, tilt + self._direction_shift
        pick = (child // psi_children)[:, None]
        fine_psi = oversample_psi(psi[psi_index], 2 * math.pi / n_psi, self.oversampling)
        return torch.stack([
            rot.gather(1, pick)[:, 0], tilt.gather(1, pick)[:, 0], fine_psi.gather(1, (child % psi_children)[:, None])[:, 0]
        ], dim=-1)

    def fine_matrices(self, fine_ids: torch.Tensor) -> torch.Tensor:
        return euler_to_matrix(*self.fine_angles(fine_ids).unbind(-1))


@functools.lru_cache(maxsize=32)
def _directions(order: int, symmetry: str) -> Directions:
    """The asymmetric-unit directions, computed once per (order, group): callers must not modify them."""
    return asymmetric_unit_directions(order, symmetry)


def in_plane_matrices(psi: torch.Tensor) -> torch.Tensor:
    """RELION's in-plane rotations Rz(psi)[:2, :2] (..., 2, 2) for angles (...) in radians."""
    zero = torch.zeros_like(psi)
    return euler_to_matrix(zero, zero, psi)[..., :2, :2]


@dataclass(frozen=True)
class TranslationSampling:
    """Offsets (x, y) in pixels around each particle's current offset, as RELION's setTranslations.

    The coarse grid has spacing ``step`` within a circle of radius ``range``; the fine grid splits
    each coarse cell into 4^oversampling; the whole grid moves by perturbation · step.
    """

    range_px: float
    step_px: float
    oversampling: int = 1
    perturbation: float = 0.0

    @property
    def coarse(self) -> torch.Tensor:
        """(T_c, 2) float64 pixels."""
        return translations(self.range_px, self.step_px) + self.perturbation * self.step_px

    @property
    def fine(self) -> torch.Tensor:
        """(T_c · n_children, 2) float64 pixels; the parent of fine id f is f // n_children."""
        return oversample_translations(self.coarse, self.step_px, self.oversampling).reshape(-1, 2)

    @property
    def n_children(self) -> int:
        return 1 << (2 * self.oversampling)

    @property
    def fine_step_px(self) -> float:
        return self.step_px / (1 << self.oversampling)


#: RELION's safety factors on the coarse image size (MlOptimiser::updateImageSizeAndResolutionPointers)
KEEPSAFE_2D, KEEPSAFE_3D = 1.5, 1.2


def coarse_image_size(step_deg: float, diameter: float, box: int, pixel: float, keepsafe: float) -> int:
    """RELION's coarse size: the resolution a rotation by one coarse step (degrees) cannot blur
    (displacement at the particle's edge / ``keepsafe``), as an even image size. ``diameter`` in
    Å (≤ 0: the box)."""
    diameter = diameter if diameter > 0 else box * pixel
    rotated = step_deg / 360.0 * math.pi * diameter
    return 2 * math.ceil(pixel * box / (rotated / keepsafe))
