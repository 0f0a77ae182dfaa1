"""Maps from aligned particles (RELION's relion_reconstruct): CTF-weighted back-projection,
symmetry, gold-standard half-maps and their FSC.

Each image is centred by a Fourier shift of +origin pixels, multiplied by its CTF and inserted
with weight CTF² (or as-is with weight CTF² when the data are CTF-premultiplied). With symmetry,
the sums are symmetrised once after the last insertion (:meth:`BackProjector.symmetrise`): as if
every particle were inserted once per operator L with rotation A·L, which is what the projection
of a map invariant under the group would give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vitreo.em.backprojector import BackProjector
from vitreo.em.ctf import ctf_2d, ctf_weights
from vitreo.em.fourier import phase_shift
from vitreo.em.fsc import fsc
from vitreo.em.symmetry import parse_symmetry
from vitreo.ml.aligned import AlignedParticles

Progress = Callable[[int], None]


def insert_particles(
    backprojector: BackProjector,
    particles: AlignedParticles,
    batch_size: int = 256,
    progress: Progress | None = None,
    max_radius: float | None = None,
) -> None:
    """Back-project every particle (in batches) into ``backprojector``, up to ``max_radius`` Fourier
    pixels (default: Nyquist); ``progress(n_done)``. Symmetrise the back-projector after the last call."""
    box = particles.box
    device = backprojector.weight.device
    for start in range(0, len(particles), batch_size):
        batch = particles.select(slice(start, start + batch_size))
        images = batch.images.to(device=device, dtype=torch.float32)
        slices = phase_shift(torch.fft.rfft2(images), batch.origins.to(device), (box, box))
        weights = torch.ones(slices.shape, device=device, dtype=torch.float32)
        if batch.ctf is not None:
            factors = ctf_weights(ctf_2d(batch.ctf.to(device), box, batch.pixel_size), batch.ctf_premultiplied)
            slices = slices if factors.data is None else slices * factors.data
            weights = factors.weight
        backprojector.insert(slices, batch.rotations.to(device), weights, max_radius)
        if progress is not None:
            progress(min(start + batch_size, len(particles)))


def reconstruct(
    particles: AlignedParticles,
    symmetry: str = "C1",
    tau2: torch.Tensor | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """One map (N, N, N) from all particles; ``tau2`` (N//2+1,) turns on Wiener/ML regularisation."""
    parse_symmetry(symmetry)  # an unknown group fails before any work
    backprojector = BackProjector(particles.box, device=particles.images.device)
    insert_particles(backprojector, particles, progress=progress)
    backprojector.symmetrise(symmetry)
    return backprojector.reconstruct(tau2=tau2)


@dataclass(frozen=True)
class GoldStandardResult:
    """Half-maps, their FSC per shell (N//2+1,), and the Wiener-filtered map of all particles."""

    half1: torch.Tensor
    half2: torch.Tensor
    fsc: torch.Tensor
    full: torch.Tensor


def gold_standard(
    particles: AlignedParticles,
    symmetry: str = "C1",
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
) -> GoldStandardResult:
    """Reconstruct two independent halves (rlnRandomSubset, or a random split where unset),
    measure their FSC, then the full map regularised with tau² = SSNR/⟨CTF²⟩ from that FSC."""
    parse_symmetry(symmetry)  # an unknown group fails before any work
    subsets = particles.subsets.clone()
    unset = subsets == 0
    if bool(unset.any()):
        draw = torch.randint(1, 3, (int(unset.sum()),), generator=generator).to(subsets.device)
        subsets[unset] = draw
    projectors = []
    done = 0
    for half in (1, 2):
        chosen = particles.select(subsets == half)
        if len(chosen) == 0:
            raise ValueError(f"half-set {half} has no particles")
        backprojector = BackProjector(particles.box, device=particles.images.device)
        insert_particles(
            backprojector, chosen, progress=None if progress is None else (lambda n, offset=done: progress(offset + n)),
        )
        backprojector.symmetrise(symmetry)
        done += len(chosen)
        projectors.append(backprojector)
    half1, half2 = (bp.reconstruct() for bp in projectors)
    curve = fsc(half1, half2)
    projectors[0].merge(projectors[1])
    full = projectors[0].reconstruct(tau2=projectors[0].tau2_from_fsc(curve, whole_map=True))
    return GoldStandardResult(half1, half2, curve, full)
