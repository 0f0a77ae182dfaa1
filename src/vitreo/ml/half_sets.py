"""Gold-standard half-sets: the random split (RELION's rlnRandomSubset) and the FSC between the
half-maps, optionally of solvent-masked maps corrected by phase randomisation (RELION's
--solvent_correct_fsc)."""

from __future__ import annotations

import numpy as np
import torch

from vitreo.em.fsc import corrected_fsc, first_shell_below, fsc, phase_randomise
from vitreo.ml.particles import ParticleSet

RANDOMISE_BELOW = 0.8  # phases are randomised from where the unmasked FSC drops below this


def random_subsets(particles: ParticleSet, generator: torch.Generator) -> torch.Tensor:
    """Half-set (n,) int64, 1 or 2: rlnRandomSubset where the file gives it, else a random
    split into halves of equal size (±1)."""
    given = particles.table.column("rlnRandomSubset", 0.0).astype(np.int64)
    subsets = torch.from_numpy(given)
    unset = torch.nonzero((subsets != 1) & (subsets != 2)).squeeze(-1)
    if len(unset):
        order = unset[torch.randperm(len(unset), generator=generator)]
        n1 = int((subsets == 1).sum())
        n2 = int((subsets == 2).sum())
        first = max(0, min(len(unset), (len(subsets) + 1) // 2 - n1)) if n1 + n2 else (len(unset) + 1) // 2
        subsets[order[:first]] = 1
        subsets[order[first:]] = 2
    return subsets


def half_map_fsc(
    half1: torch.Tensor, half2: torch.Tensor, mask: torch.Tensor | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """FSC per shell (N//2+1,) between half-maps; with a solvent ``mask`` the FSC of the masked
    maps, corrected for the mask by phase randomisation beyond where the unmasked FSC drops
    below 0.8."""
    unmasked = fsc(half1, half2)
    if mask is None:
        return unmasked
    mask = mask.to(half1)
    masked = fsc(half1 * mask, half2 * mask)
    randomize_at = first_shell_below(unmasked, RANDOMISE_BELOW)
    if randomize_at >= len(unmasked) - 2:
        return masked
    random1 = phase_randomise(half1, randomize_at, generator) * mask
    random2 = phase_randomise(half2, randomize_at, generator) * mask
    return corrected_fsc(masked, fsc(random1, random2), randomize_at)
