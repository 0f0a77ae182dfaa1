"""The angular distribution of refined particles (RELION's _angdist.bild, as a figure): how many
particles view the map from each direction, on a Hammer (equal-area) projection of the sphere.

Directions are binned by rot (longitude, −180°..180°) and tilt (colatitude: tilt 0 is the north
pole) into cells of equal solid angle: 2·bins longitude steps of 180°/bins, and bins latitude
bands equally spaced in sin(latitude).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from vitreo.io.atomic import atomic_path


@dataclass(frozen=True)
class DirectionHistogram:
    """Particle counts per cell (2·bins, bins) over longitude edges (2·bins + 1,) and latitude edges
    (bins + 1,), both in radians, and the solid angle of every cell (steradians)."""

    counts: np.ndarray
    longitude_edges: np.ndarray
    latitude_edges: np.ndarray
    cell_solid_angle: float

    @property
    def density(self) -> np.ndarray:
        """Particles per steradian in each cell."""
        return self.counts / self.cell_solid_angle


def direction_histogram(rot_rad: np.ndarray, tilt_rad: np.ndarray, bins: int = 36) -> DirectionHistogram:
    """Bin viewing directions given by rot and tilt (radians, RELION's Euler angles) into equal-area cells."""
    longitude = np.angle(np.exp(1j * np.asarray(rot_rad, dtype=np.float64).reshape(-1)))  # rot in (−π, π]
    latitude = np.pi / 2 - np.clip(np.asarray(tilt_rad, dtype=np.float64).reshape(-1), 0.0, np.pi)
    lon_edges = np.linspace(-np.pi, np.pi, 2 * bins + 1)
    lat_edges = np.arcsin(np.linspace(-1.0, 1.0, bins + 1))
    counts, _, _ = np.histogram2d(longitude, latitude, bins=(lon_edges, lat_edges))
    return DirectionHistogram(counts, lon_edges, lat_edges, (lon_edges[1] - lon_edges[0]) * (2.0 / bins))


def plot_angular_distribution(path: str | os.PathLike[str], angles_rad: np.ndarray, symmetry: str = "C1", bins: int = 36) -> None:
    """Write a figure (PNG/PDF by suffix) of the particles' viewing directions: a 2D histogram of
    rot (longitude) and tilt (colatitude) from Euler angles (n, 3) in radians, weighted to equal
    areas (counts per steradian)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    angles = np.asarray(angles_rad, dtype=np.float64).reshape(-1, 3)
    histogram = direction_histogram(angles[:, 0], angles[:, 1], bins)
    fig = plt.figure(figsize=(8, 4.6))
    ax = fig.add_subplot(111, projection="hammer")
    lon, lat = np.meshgrid(histogram.longitude_edges, histogram.latitude_edges, indexing="ij")
    image = ax.pcolormesh(lon, lat, histogram.density, cmap="viridis", shading="flat")
    ax.grid(alpha=0.3)
    ax.set_xticklabels([])
    ax.set_title(f"{len(angles)} particles, symmetry {symmetry}: viewing directions (rot, tilt)")
    fig.colorbar(image, ax=ax, orientation="horizontal", fraction=0.05, pad=0.06, label="particles per steradian")
    suffix = os.path.splitext(str(path))[1] or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=110, format=suffix.lstrip("."))
    plt.close(fig)


__all__ = ["DirectionHistogram", "direction_histogram", "plot_angular_distribution"]
