"""Local angular searches: a Gaussian prior on the angle to each particle's previous orientation.

As RELION's local searches (orientational prior mode PRIOR_ROTTILT_PSI, ``--sigma_ang``), a
hypothesis A of a particle whose previous orientation was A₀ gets the prior exp(−d²/2σ²), with d
the rotation angle between A and the nearest symmetry copy A₀·L (L a proper operator of the
group: A₀·L projects a symmetric map exactly as A₀ does). Hypotheses beyond ``CUTOFF``·σ are not
searched (RELION: ± 3σ), except each particle's nearest one, so that no particle is left without.
All distances are one matrix product: cos d = (Σᵢⱼ Aᵢⱼ(A₀L)ᵢⱼ − 1)/2 for all pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vitreo.em.geometry import euler_to_matrix
from vitreo.em.symmetry import proper_operators

CUTOFF = 3.0  # searched range in units of σ
CHUNK = 1 << 15  # orientations per block when selecting candidates


@dataclass(frozen=True)
class LocalPrior:
    """The symmetry copies (B, L, 3, 3) of B particles' previous orientations and σ (radians)."""

    mates: torch.Tensor
    sigma: float

    @classmethod
    def around(cls, angles: torch.Tensor, symmetry: str, sigma_deg: float, device: torch.device | str = "cpu") -> LocalPrior:
        """The prior around Euler angles (B, 3) radians (rot, tilt, psi) with σ = ``sigma_deg``."""
        previous = euler_to_matrix(*angles.double().unbind(-1))
        operators = proper_operators(symmetry, torch.float64)
        mates = previous[:, None] @ operators[None]
        return cls(mates.to(device=device, dtype=torch.float32), math.radians(sigma_deg))

    def __len__(self) -> int:
        return self.mates.shape[0]

    def select(self, rows: torch.Tensor) -> LocalPrior:
        return LocalPrior(self.mates[rows.to(self.mates.device)], self.sigma)

    def cos_distance(self, rotations: torch.Tensor) -> torch.Tensor:
        """cos of the angle (B, R) from each particle's nearest copy to rotations (R, 3, 3)."""
        b, n_mates = self.mates.shape[:2]
        flat = rotations.to(self.mates).reshape(-1, 9)
        cos_trace = flat @ self.mates.reshape(b * n_mates, 9).T  # (R, B·L)
        best = cos_trace.reshape(-1, b, n_mates).amax(dim=-1).T
        return ((best - 1.0) / 2.0).clamp(-1.0, 1.0)

    def log_prior(self, rotations: torch.Tensor) -> torch.Tensor:
        """log prior (B, R) float32 of rotations (R, 3, 3): −d²/2σ² within the cutoff, −inf beyond
        (each particle's nearest rotation is always kept)."""
        distance = torch.acos(self.cos_distance(rotations))
        log_p = -0.5 * (distance / self.sigma).square()
        outside = distance > CUTOFF * self.sigma
        nearest = torch.nn.functional.one_hot(distance.argmin(dim=1), distance.shape[1]).bool()
        return log_p.masked_fill(outside & ~nearest, float("-inf"))

    def candidates(self, rotations: torch.Tensor) -> torch.Tensor:
        """Indices (C,) of the rotations (R, 3, 3) within the cutoff of any particle, plus each
        particle's nearest, ascending."""
        limit = math.cos(min(CUTOFF * self.sigma, math.pi))
        kept = []
        nearest_cos = torch.full((len(self),), -2.0, device=self.mates.device)
        nearest_id = torch.zeros(len(self), dtype=torch.long, device=self.mates.device)
        for start in range(0, rotations.shape[0], CHUNK):
            cos = self.cos_distance(rotations[start : start + CHUNK])
            kept.append(torch.nonzero((cos >= limit).any(dim=0)).squeeze(-1) + start)
            best_cos, best_id = cos.max(dim=1)
            better = best_cos > nearest_cos
            nearest_cos = torch.where(better, best_cos, nearest_cos)
            nearest_id = torch.where(better, best_id + start, nearest_id)
        return torch.unique(torch.cat([*kept, nearest_id]))


def searched_fraction(sigma_deg: float) -> float:
    """Fraction of all orientations (uniform on SO(3)) within CUTOFF·σ of a given one: (r − sin r)/π."""
    r = min(math.radians(CUTOFF * sigma_deg), math.pi)
    return (r - math.sin(r)) / math.pi
