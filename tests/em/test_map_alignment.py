"""Map-to-map superposition: a known rotation, mirror and shift of an asymmetric map is undone."""

from __future__ import annotations

import torch

from vitreo.em.geometry import angular_distance, random_rotations
from vitreo.em.map_alignment import align_maps, apply_alignment, flip_hand, rotate_map

BOX = 24


def _blobs(seed: int) -> torch.Tensor:
    """An asymmetric map: eight Gaussian blobs of different heights around the centre."""
    g = torch.Generator().manual_seed(seed)
    axis = torch.arange(BOX, dtype=torch.float64) - BOX // 2
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    volume = torch.zeros(BOX, BOX, BOX, dtype=torch.float64)
    for height in torch.linspace(0.5, 1.5, 8):
        c = torch.randn(3, generator=g, dtype=torch.float64) * 3.5
        volume += height * torch.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) / (2 * 1.6**2))
    return volume.float()


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_rotate_map_turns_coordinates_by_the_matrix() -> None:
    volume = torch.zeros(BOX, BOX, BOX, dtype=torch.float64)
    volume[BOX // 2, BOX // 2, BOX // 2 + 5] = 1.0  # a point at (x, y, z) = (5, 0, 0)
    quarter = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)  # x -> y
    turned = rotate_map(volume, quarter)
    assert float(turned[BOX // 2, BOX // 2 + 5, BOX // 2]) > 0.99  # now at (0, 5, 0)
    assert torch.equal(flip_hand(flip_hand(volume)), volume)


def test_alignment_recovers_rotation_mirror_and_shift() -> None:
    reference = _blobs(1)
    rotation = random_rotations(1, generator=torch.Generator().manual_seed(7), dtype=torch.float64)[0]
    # moving = the reference turned by R, mirrored and shifted: the alignment must undo all three.
    moving = torch.roll(flip_hand(rotate_map(reference.double(), rotation).float()), (2, -1, 1), dims=(0, 1, 2))
    found = align_maps(reference, moving, pixel_size=4.0, resolution=10.0, search_order=1)
    assert found.flipped
    aligned = apply_alignment(moving, found)
    assert _correlation(aligned, reference) > 0.97, _correlation(aligned, reference)
    assert found.score > 0.95
    # without the mirror no rotation fits as well
    unmirrored = align_maps(reference, moving, pixel_size=4.0, resolution=10.0, allow_flip=False, search_order=1)
    assert unmirrored.score < found.score - 0.02


def test_unmirrored_alignment_recovers_the_inverse_rotation() -> None:
    reference = _blobs(2)
    rotation = random_rotations(1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)[0]
    moving = rotate_map(reference.double(), rotation).float()
    found = align_maps(reference, moving, pixel_size=4.0, resolution=10.0, search_order=1)
    assert not found.flipped
    error = torch.rad2deg(angular_distance(found.rotation, rotation.T))
    assert float(error) < 3.0, float(error)
    assert float(found.shift.abs().max()) < 0.5
