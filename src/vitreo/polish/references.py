"""Reference projections for movie particles: CTF · P(A) from the half-map of each particle's
random subset (gold-standard, as RELION's movie refinement), or one map for all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitreo.em.ctf import CtfParams, ctf_2d
from vitreo.em.projector import Projector
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc


@dataclass(frozen=True)
class References:
    """Projectors by random subset (1, 2; key 0 serves particles of any subset)."""

    projectors: Mapping[int, Projector]
    box: int
    pixel_size: float

    def spectra(self, rotations: torch.Tensor, subsets: np.ndarray, ctf: CtfParams | None) -> torch.Tensor:
        """CTF-multiplied central slices (n, N, N//2+1) complex, centred at N//2, for rotations (n, 3, 3)."""
        out = torch.empty((len(rotations), self.box, self.box // 2 + 1), dtype=torch.complex64)
        for key, projector in self.projectors.items():
            others = [k for k in self.projectors if k]
            rows = np.flatnonzero(subsets == key) if key else np.flatnonzero(~np.isin(subsets, others))
            if len(rows):
                out[torch.from_numpy(rows)] = projector.project(rotations[torch.from_numpy(rows)]).to(out.dtype)
        if ctf is not None:
            out = out * ctf_2d(ctf, self.box, self.pixel_size)
        return out


def load_references(maps: Mapping[int, str | Path], box: int, pixel_size: float) -> References:
    """Projectors for the maps by subset; InputError when a map's box differs from the particles'."""
    projectors = {}
    for key, path in maps.items():
        volume, _ = read_mrc(path)
        if volume.shape != (box,) * 3:
            raise InputError(path, f"map of {volume.shape[-1]} px does not match the movie particles' box of {box} px")
        projectors[key] = Projector(torch.from_numpy(np.ascontiguousarray(volume)))
    return References(projectors, box, pixel_size)


def refinement_files(fn_cont: str) -> tuple[Path, dict[int, Path]]:
    """The data STAR file and maps of a finished refinement named by its ``_optimiser.star`` or
    ``_data.star``: half-maps ``<root>_half1/2_class001_unfil.mrc`` when both exist, else
    ``<root>_class001.mrc`` for all particles. InputError when neither is there."""
    name = str(fn_cont)
    for suffix in ("_optimiser.star", "_data.star"):
        if name.endswith(suffix):
            root = name[: -len(suffix)]
            break
    else:
        raise InputError(fn_cont, "expected a refinement's _optimiser.star or _data.star file")
    data = Path(root + "_data.star")
    if not data.is_file():
        raise InputError(data, "the refinement's particles file does not exist")
    halves = {k: Path(f"{root}_half{k}_class001_unfil.mrc") for k in (1, 2)}
    if all(p.is_file() for p in halves.values()):
        return data, halves
    whole = Path(root + "_class001.mrc")
    if whole.is_file():
        return data, {0: whole}
    raise InputError(fn_cont, f"no reference map beside it ({halves[1].name} and half2, or {whole.name})")


__all__ = ["References", "load_references", "refinement_files"]
