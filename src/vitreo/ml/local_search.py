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
PAIR_MATES = 1 << 10  # particle copies per block when pairing them with nearby directions


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

    @property
    def cos_cutoff(self) -> float:
        """cos of the searched range CUTOFF·σ (capped at π)."""
        return math.cos(min(CUTOFF * self.sigma, math.pi))

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

    def candidates(self, rotations: torch.Tensor, per_direction: int = 1) -> torch.Tensor:
        """Indices (C,) of the rotations (R, 3, 3) within the cutoff of any particle, plus each
        particle's nearest, ascending.

        With ``per_direction`` > 1 the rotations come in runs of that many sharing their viewing
        direction (third row: a coarse grid's directions × psi). The angle between two rotations is
        at least the angle between their directions, so only the runs whose direction lies within
        the cutoff of a particle's copy are compared, and only with that copy: at a 1.9° step (192
        psi per direction) a thousandth of the full comparison. The full scan remains for
        particles left without a rotation within the cutoff.
        """
        if per_direction > 1 and rotations.shape[0] % per_direction == 0:
            found = self._by_direction(rotations, per_direction)
            if found is not None:
                return found
        return self._scan(rotations)

    def _by_direction(self, rotations: torch.Tensor, per_direction: int) -> torch.Tensor | None:
        """:meth:`candidates` from (direction, copy) pairs within the cutoff; None when a particle has no
        rotation within it (its nearest rotation may then lie anywhere)."""
        limit = self.cos_cutoff
        b, n_mates = self.mates.shape[:2]
        runs = rotations.to(self.mates).reshape(-1, per_direction, 9)
        views = runs[:, 0, 6:]  # (n_dir, 3): the runs' third rows
        mates = self.mates.reshape(b * n_mates, 9)
        nearest = torch.full((b,), -2.0, device=mates.device)
        kept = []
        for start in range(0, b * n_mates, PAIR_MATES):
            block = mates[start : start + PAIR_MATES]
            direction, mate = torch.nonzero(views @ block[:, 6:].T >= limit).T
            cos = ((runs[direction] * block[mate][:, None, :]).sum(-1) - 1.0) / 2.0  # (pairs, per_direction)
            ids = direction[:, None] * per_direction + torch.arange(per_direction, device=cos.device)
            kept.append(ids[cos >= limit])
            nearest.scatter_reduce_(0, (mate + start) // n_mates, cos.amax(dim=1), reduce="amax")
        if bool((nearest < limit).any()):
            return None
        return torch.unique(torch.cat(kept)).to(rotations.device)

    def _scan(self, rotations: torch.Tensor) -> torch.Tensor:
        """:meth:`candidates` over all rotations, in blocks of ``CHUNK``."""
        limit = self.cos_cutoff
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
