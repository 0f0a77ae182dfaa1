"""Subset-selection kernels on analytic class averages: re-centring and the automatic class ranker."""

from __future__ import annotations

import numpy as np
import pytest

from vitreo.io.errors import InputError
from vitreo.ml.select import ClassSummary, rank_classes, recentred_averages

BOX, PIXEL = 64, 4.0


def blob(cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    axis = np.arange(BOX) - BOX // 2
    y, x = np.meshgrid(axis, axis, indexing="ij")
    return np.exp(-((x - cx) ** 2) / (2 * sx**2) - (y - cy) ** 2 / (2 * sy**2)).astype(np.float32)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    axis = np.arange(BOX) - BOX // 2
    density = np.clip(image, 0, None)
    return float((density.sum(0) * axis).sum() / density.sum()), float((density.sum(1) * axis).sum() / density.sum())


def summary(averages: list[np.ndarray], distribution: list[float], resolution: list[float]) -> ClassSummary:
    k = len(averages)
    return ClassSummary(np.arange(1, k + 1), np.asarray(distribution), np.asarray(resolution),
                        np.array([f"{i:06d}@c.mrcs" for i in range(1, k + 1)]), np.stack(averages), PIXEL)


def test_recentring_moves_the_centre_of_mass_to_the_box_centre() -> None:
    shifted = blob(5.3, -3.7, 4, 6) + 0.5 * blob(7.0, -1.0, 2, 2)
    assert np.hypot(*centre_of_mass(shifted)) > 5  # the control
    result = recentred_averages(summary([shifted], [1.0], [10.0]), [1])
    assert np.hypot(*centre_of_mass(result[0])) < 0.1
    assert result[0].max() == pytest.approx(shifted.max(), rel=0.05)  # shifted, not blurred


def test_ranker_keeps_particle_like_classes_and_rejects_junk() -> None:
    good = [blob(0, 0, 7, 5) + 0.4 * blob(3, 2, 2, 2), blob(1, 0, 6, 6), blob(0, -1, 5, 8), blob(0, 0, 8, 6)]
    streak = blob(0, 0, 20, 1.5)  # a line: elongated
    off_centre = blob(22, 20, 4, 4)  # density outside the particle radius
    tiny = blob(0, 0, 6, 6)  # too few particles
    blurry = blob(0, 0, 7, 7)  # low estimated resolution
    averages = [*good, streak, off_centre, tiny, blurry]
    distribution = [0.2, 0.2, 0.2, 0.2, 0.06, 0.06, 0.001, 0.079]
    resolution = [10.0, 11.0, 10.5, 12.0, 11.0, 10.0, 10.0, 40.0]
    scores = rank_classes(summary(averages, distribution, resolution), n_particles=1000, particle_radius_px=20)
    assert scores.selected.tolist() == [True] * 4 + [False] * 4
    assert scores.elongation[4] > 3 and scores.concentration[5] < 0.6 and scores.particles[6] < 10
    with pytest.raises(InputError, match="2D class averages"):
        rank_classes(ClassSummary(np.arange(1, 3), np.ones(2) / 2, np.ones(2), np.array(["a", "b"]), None, PIXEL), 10, 5)



def test_a_model_file_without_pixel_size_is_refused_in_one_line(tmp_path) -> None:
    from vitreo.io.star import Table, write_star
    from vitreo.ml.select import read_classes

    path = tmp_path / "run_it025_model.star"
    classes = Table({"rlnReferenceImage": np.array(["000001@run_it025_classes.mrcs"]), "rlnClassDistribution": np.array([1.0])})
    write_star(path, {"model_general": {"rlnReferenceDimensionality": 2}, "model_classes": classes})
    with pytest.raises(InputError, match="no rlnPixelSize"):
        read_classes(path, tmp_path)
