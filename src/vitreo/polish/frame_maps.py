"""Single-frame half-map reconstructions of polished movie particles (RELION 2.1's per-frame maps).

The map of frame group g and half h back-projects, for every particle of that half, the frame
groups within ``average``//2 of g (``average`` odd: RELION's frame averaging for the B-factor
estimation), each centred by its own fitted offset, in the averaged particle's orientation and
with its CTF (:func:`vitreo.ml.reconstruct.insert_particles`), up to ``highres`` Å as RELION
does (beyond it the maps are zero). The frames of a window share the
orientation and CTF, so their centred mean is inserted once: the same map (data and weight sums
both scale with the number of frames), for a third of the work at ``average`` 3. Particles are
read in chunks, one stack (micrograph) at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vitreo.em.backprojector import BackProjector
from vitreo.em.ctf import CtfParams
from vitreo.em.fourier import phase_shift
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.ml.aligned import AlignedParticles
from vitreo.ml.reconstruct import insert_particles
from vitreo.polish.movie_particles import read_movie_particles

CHUNK = 128


def window_groups(group: int, n_groups: int, average: int) -> np.ndarray:
    """Frame groups within average//2 of ``group`` (clipped to the movie)."""
    half = max(average, 1) // 2
    return np.arange(max(0, group - half), min(n_groups, group + half + 1))


def frame_half_maps(stacks: np.ndarray, stack_index: np.ndarray, n_groups: int, groups: np.ndarray,
                    offsets: np.ndarray, angles: np.ndarray, subsets: np.ndarray, ctf: CtfParams | None,
                    pixel_size: float, box: int, symmetry: str = "C1", highres: float = 0.0,
                    check: Callable[[], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Half-maps (N, N, N) ×2 from the frame ``groups`` of particles stored at ``stack_index`` (P,)
    in ``stacks`` (P,), with per-frame offsets (P, G, 2) px, angles (P, 3) degrees and subsets (P,)."""
    rotations = euler_degrees_to_matrix(*(torch.from_numpy(np.ascontiguousarray(angles[:, i])) for i in range(3)))
    halves = {1: BackProjector(box, padding=1.0), 2: BackProjector(box, padding=1.0)}  # RELION: pad 1 here
    radius = box * pixel_size / highres if highres > 0 else None
    for stack in np.unique(stacks):
        rows = np.flatnonzero(stacks == stack)
        for start in range(0, len(rows), CHUNK):
            part = rows[start:start + CHUNK]
            if check is not None:
                check()
            frames = read_movie_particles(stack, stack_index[part], n_groups, groups)  # (n, w, N, N)
            shifts = torch.from_numpy(offsets[part][:, groups]).to(torch.float32)  # (n, w, 2)
            centred = phase_shift(torch.fft.rfft2(frames), shifts, (box, box)).mean(1)
            index = torch.from_numpy(part)
            batch = AlignedParticles(
                images=torch.fft.irfft2(centred, s=(box, box)),
                rotations=rotations[index].to(torch.float32),
                origins=torch.zeros((len(part), 2)),
                ctf=None if ctf is None else ctf[index],
                pixel_size=pixel_size,
                subsets=torch.from_numpy(subsets[part]),
            )
            for half, backprojector in halves.items():
                chosen = batch.subsets == half
                if bool(chosen.any()):
                    insert_particles(backprojector, batch.select(chosen), max_radius=radius)
    for backprojector in halves.values():
        backprojector.symmetrise(symmetry)
    # "division": gridding (Pipe & Menon) returns NaN where sparse frames leave voxels without weight
    return halves[1].reconstruct(method="division"), halves[2].reconstruct(method="division")


__all__ = ["frame_half_maps", "window_groups"]
