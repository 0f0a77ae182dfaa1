"""Junk: what a picker finds besides good particles.

Four kinds, each a projected potential (V·Å) in a box twice the particle box (junk is bigger),
centred at its middle and returned as its rfft, like a central slice from
:class:`vitreo.em.projector.Projector`:

- ``aggregate``: two or three particles in random orientations, touching (centres 0.3–0.5
  diameters apart);
- ``broken``: a particle cut by a random straight edge (30–70% of it kept);
- ``ice``: a hexagonal ice crystal (a quarter to half a particle box across, 100–400 Å thick)
  lying on the ice;
- ``blob``: an amorphous protein aggregate, a cluster of 4–8 Gaussian blobs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.fourier import phase_shift
from vitreo.em.geometry import quaternion_to_matrix
from vitreo.em.projector import Projector
from vitreo.simulate.materials import VITREOUS_ICE

KINDS = ("aggregate", "broken", "ice", "blob")
_KIND_PROBABILITIES = (0.35, 0.3, 0.15, 0.2)
_AGGREGATE_MEMBERS = 3


@dataclass(frozen=True)
class JunkSpec:
    """Random parameters of m junk objects (arrays indexed by object)."""

    kinds: np.ndarray  # (m,) index into KINDS
    quaternions: np.ndarray  # (m, 3, 4): orientations of the aggregate members / broken particle
    offsets: np.ndarray  # (m, 3, 2): member offsets (px, x y) of aggregates; member 0 at 0
    members: np.ndarray  # (m,) 2 or 3 members in an aggregate
    angles: np.ndarray  # (m,) radians: cut direction (broken), crystal rotation (ice)
    sizes: np.ndarray  # (m,) cut offset (broken, fraction of radius), crystal radius (ice, px)
    thickness: np.ndarray  # (m,) Å: crystal thickness (ice)
    blobs: np.ndarray  # (m, 8, 4): (x, y, σ px, weight) of the Gaussians of a blob; weight 0 unused

    def __len__(self) -> int:
        return len(self.kinds)

    def kind_names(self) -> list[str]:
        return [KINDS[k] for k in self.kinds]


def draw_junk(rng: np.random.Generator, m: int, box: int, diameter_px: float) -> JunkSpec:
    """Random parameters for ``m`` junk objects in a box of ``box`` px around particles of ``diameter_px``."""
    kinds = rng.choice(len(KINDS), size=m, p=_KIND_PROBABILITIES)
    quaternions = rng.normal(size=(m, _AGGREGATE_MEMBERS, 4))
    distances = rng.uniform(0.3, 0.5, size=(m, _AGGREGATE_MEMBERS, 1)) * diameter_px
    directions = rng.uniform(0, 2 * np.pi, size=(m, _AGGREGATE_MEMBERS))
    offsets = distances * np.stack([np.cos(directions), np.sin(directions)], axis=-1)
    offsets[:, 0] = 0.0
    members = rng.integers(2, _AGGREGATE_MEMBERS + 1, size=m)
    angles = rng.uniform(0, 2 * np.pi, size=m)
    is_ice = kinds == KINDS.index("ice")
    sizes = np.where(is_ice, rng.uniform(0.125, 0.25, size=m) * box, rng.uniform(-0.3, 0.3, size=m))
    thickness = rng.uniform(100.0, 400.0, size=m)
    n_blobs = rng.integers(4, 9, size=m)
    blobs = np.zeros((m, 8, 4))
    blobs[..., :2] = rng.normal(scale=0.12 * box, size=(m, 8, 2))
    blobs[..., 2] = rng.uniform(0.03, 0.08, size=(m, 8)) * box
    blobs[..., 3] = rng.uniform(0.5, 1.0, size=(m, 8)) * (np.arange(8)[None, :] < n_blobs[:, None])
    return JunkSpec(kinds, quaternions, offsets, members, angles, sizes, thickness, blobs)


def junk_box(box: int) -> int:
    """Size (px) of the images junk is rendered in, for a particle box of ``box``."""
    return 2 * box


def render_junk(spec: JunkSpec, projector: Projector, pixel_size: float, protein_peak: float) -> torch.Tensor:
    """Projected potentials (m, J, J//2+1) complex (rfft, centre at J//2, J = :func:`junk_box`).

    ``projector`` holds the particle's state-1 map (volts); ``protein_peak`` (V·Å) scales blobs.
    """
    box = junk_box(projector.size)
    device, dtype = projector.device, projector.dtype
    out = torch.zeros((len(spec), box, box // 2 + 1), dtype=dtype.to_complex(), device=device)
    kinds = torch.as_tensor(spec.kinds, device=device)
    for index, kind in enumerate(KINDS):
        chosen = torch.nonzero(kinds == index).squeeze(-1)
        if chosen.numel() == 0:
            continue
        picked = chosen.cpu().numpy()
        if kind == "aggregate":
            images = _aggregates(spec, picked, projector, pixel_size)
        elif kind == "broken":
            images = _broken(spec, picked, projector, pixel_size)
        elif kind == "ice":
            images = _ice_crystals(spec, picked, box, device, dtype)
        else:
            images = _blobs(spec, picked, box, protein_peak, device, dtype)
        out[chosen] = images
    return out


def _projections(quaternions: np.ndarray, projector: Projector, pixel_size: float) -> torch.Tensor:
    """Projected potentials (V·Å, real, (..., box, box)) of the map in the orientations of quaternions (..., 4)."""
    q = torch.as_tensor(quaternions, dtype=torch.float64)
    rotations = quaternion_to_matrix(q).to(device=projector.device, dtype=projector.dtype)
    box = projector.size
    return torch.fft.irfft2(projector.project(rotations), s=(box, box)) * pixel_size


def _padded(images: torch.Tensor) -> torch.Tensor:
    """Zero-pad images (..., box, box) centred at box//2 to the junk box, centred at its middle."""
    pad = (junk_box(images.shape[-1]) - images.shape[-1]) // 2
    return torch.nn.functional.pad(images, (pad, pad, pad, pad))


def _aggregates(spec: JunkSpec, picked: np.ndarray, projector: Projector, pixel_size: float) -> torch.Tensor:
    box = junk_box(projector.size)
    members = torch.fft.rfft2(_padded(_projections(spec.quaternions[picked], projector, pixel_size)))
    shifts = torch.as_tensor(spec.offsets[picked], dtype=projector.dtype, device=projector.device)
    shifted = phase_shift(members, shifts, (box, box))
    present = np.arange(_AGGREGATE_MEMBERS)[None, :] < spec.members[picked, None]
    present = torch.as_tensor(present, device=members.device)
    return (shifted * present[..., None, None]).sum(1)


def _broken(spec: JunkSpec, picked: np.ndarray, projector: Projector, pixel_size: float) -> torch.Tensor:
    images = _padded(_projections(spec.quaternions[picked, 0], projector, pixel_size))
    angle = torch.as_tensor(spec.angles[picked], dtype=images.dtype, device=images.device)
    cut = torch.as_tensor(spec.sizes[picked], dtype=images.dtype, device=images.device)
    return torch.fft.rfft2(cut_away(images, angle, cut * (projector.size / 4)))


def _ice_crystals(
    spec: JunkSpec, picked: np.ndarray, box: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    x, y = box_coordinates(box, device, dtype)
    angle = torch.as_tensor(spec.angles[picked], dtype=dtype, device=device)[:, None, None, None]
    normals = angle + torch.arange(3, dtype=dtype, device=device)[:, None, None] * (math.pi / 3)
    distance = (x * torch.cos(normals) + y * torch.sin(normals)).abs().amax(1)  # hexagon "radius" of each pixel
    apothem = torch.as_tensor(spec.sizes[picked], dtype=dtype, device=device)[:, None, None] * math.cos(math.pi / 6)
    thickness = torch.as_tensor(spec.thickness[picked], dtype=dtype, device=device)[:, None, None]
    return torch.fft.rfft2(torch.sigmoid(apothem - distance) * thickness * VITREOUS_ICE.mean_potential)


def _blobs(
    spec: JunkSpec, picked: np.ndarray, box: int, protein_peak: float, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    params = torch.as_tensor(spec.blobs[picked], dtype=dtype, device=device)  # (k, 8, 4)
    return torch.fft.rfft2(gaussian_cluster(box, params[..., :2], params[..., 2], params[..., 3]) * protein_peak)


def box_coordinates(box: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates (x, y) relative to the box centre box//2, each (box, box)."""
    axis = torch.arange(box, device=device, dtype=dtype) - box // 2
    return axis[None, :].expand(box, box), axis[:, None].expand(box, box)


def gaussian_cluster(box: int, centres: torch.Tensor, sigma: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Amorphous aggregates: images (k, box, box) each the sum of Gaussians at ``centres`` (k, g, 2)
    (x, y px from the box centre) of widths ``sigma`` (k, g) px and peak ``weight`` (k, g)."""
    x, y = box_coordinates(box, centres.device, centres.dtype)
    distance2 = (x - centres[..., 0, None, None]) ** 2 + (y - centres[..., 1, None, None]) ** 2
    return (weight[..., None, None] * torch.exp(-distance2 / (2 * sigma[..., None, None] ** 2))).sum(1)


def cut_away(images: torch.Tensor, angle: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Broken particles: images (k, N, N) centred at N//2 with everything beyond a straight edge
    removed (soft, 1 px): the edge's normal at ``angle`` (k,) radians, ``offset`` (k,) px from the centre."""
    x, y = box_coordinates(images.shape[-1], images.device, images.dtype)
    angle, offset = angle[:, None, None], offset[:, None, None]
    return images * torch.sigmoid(-(x * torch.cos(angle) + y * torch.sin(angle) - offset))

