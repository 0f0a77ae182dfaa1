"""The angular distribution of refined particles (RELION's _angdist.bild, as a figure): how many
particles view the map from each direction, on a Hammer (equal-area) projection of the sphere."""

from __future__ import annotations

import os

import numpy as np

from vitreo.io.atomic import atomic_path


def plot_angular_distribution(path: str | os.PathLike[str], angles_rad: np.ndarray, symmetry: str = "C1", bins: int = 36) -> None:
    """Write a figure (PNG/PDF by suffix) of the particles' viewing directions: a 2D histogram of
    rot (longitude) and tilt (colatitude) from Euler angles (n, 3) in radians, weighted to equal
    areas (counts per steradian)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    angles = np.asarray(angles_rad, dtype=np.float64).reshape(-1, 3)
    longitude = np.angle(np.exp(1j * angles[:, 0]))  # rot in (−π, π]
    latitude = np.pi / 2 - np.clip(angles[:, 1], 0.0, np.pi)  # tilt 0 = north pole
    lon_edges = np.linspace(-np.pi, np.pi, 2 * bins + 1)
    lat_edges = np.arcsin(np.linspace(-1.0, 1.0, bins + 1))  # equal-area bands
    counts, _, _ = np.histogram2d(longitude, latitude, bins=(lon_edges, lat_edges))
    cell = (lon_edges[1] - lon_edges[0]) * (2.0 / bins)  # steradians per cell
    fig = plt.figure(figsize=(8, 4.6))
    ax = fig.add_subplot(111, projection="hammer")
    lon, lat = np.meshgrid(lon_edges, lat_edges, indexing="ij")
    image = ax.pcolormesh(lon, lat, counts / cell, cmap="viridis", shading="flat")
    ax.grid(alpha=0.3)
    ax.set_xticklabels([])
    ax.set_title(f"{len(angles)} particles, symmetry {symmetry}: viewing directions (rot, tilt)")
    fig.colorbar(image, ax=ax, orientation="horizontal", fraction=0.05, pad=0.06, label="particles per steradian")
    suffix = os.path.splitext(str(path))[1] or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=110, format=suffix.lstrip("."))
    plt.close(fig)
