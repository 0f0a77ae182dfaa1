"""Subset selection after classification (RELION's Select job), as plain functions on STAR tables.

Classes come from a _model.star (by number, by a rule on distribution and resolution, or by
:func:`rank_classes`, the automatic selection); particles from the matching _data.star. Helpers
re-centre class averages for auto-picking templates, regroup particles into about N groups, cap
the particles per class, and keep the micrographs that still hold selected particles.
Class numbers are 1-based, as in rlnClassNumber.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from vitreo.io.errors import InputError
from vitreo.io.image_refs import format_image_names, parse_image_name, resolve
from vitreo.io.mrc import read_mrc
from vitreo.io.star import Table, read_star
from vitreo.ml.class2d import recentre


@dataclass(frozen=True)
class ClassSummary:
    """What a _model.star says of each class: numbers (K,) 1-based, distribution (K,), estimated
    resolution (K,) Å, reference image names (K,), the 2D averages (K, N, N) (None for the 3D
    references of Class3D/Refine3D) and the pixel size (Å)."""

    numbers: np.ndarray
    distribution: np.ndarray
    resolution: np.ndarray
    image_names: np.ndarray
    averages: np.ndarray | None
    pixel_size: float


def read_classes(model_star: str | os.PathLike[str], project_dir: str | os.PathLike[str] = ".") -> ClassSummary:
    """Read a classification's _model.star and, for 2D, its class averages."""
    path = Path(model_star)
    blocks = read_star(path)
    general, classes = blocks.get("model_general"), blocks.get("model_classes")
    if not isinstance(general, dict) or not isinstance(classes, Table):
        raise InputError(path, "not a model file (needs data_model_general and data_model_classes)")
    if "rlnPixelSize" not in general:
        raise InputError(path, "data_model_general has no rlnPixelSize")
    for label in ("rlnReferenceImage", "rlnClassDistribution"):
        if label not in classes:
            raise InputError(path, f"data_model_classes has no {label}")
    names = np.asarray(classes["rlnReferenceImage"]).astype(str)
    stack = None
    if int(general.get("rlnReferenceDimensionality", 2)) == 2:
        images, _ = read_mrc(resolve(parse_image_name(names[0]).path, project_dir))
        stack = np.asarray(images, dtype=np.float32).reshape(len(names), *np.shape(images)[-2:])
    resolution = classes["rlnEstimatedResolution"] if "rlnEstimatedResolution" in classes else np.full(len(names), 999.0)
    return ClassSummary(
        numbers=np.arange(1, len(names) + 1),
        distribution=np.asarray(classes["rlnClassDistribution"], np.float64),
        resolution=np.asarray(resolution, np.float64),
        image_names=names,
        averages=stack,
        pixel_size=float(general["rlnPixelSize"]),
    )


def classes_by_rule(
    summary: ClassSummary, min_distribution: float = 0.0, max_resolution: float = math.inf
) -> np.ndarray:
    """Class numbers with at least ``min_distribution`` of the particles and an estimated
    resolution of ``max_resolution`` Å or better."""
    keep = (summary.distribution >= min_distribution) & (summary.resolution <= max_resolution)
    return summary.numbers[keep]


def particles_in_classes(data: Table, classes: np.ndarray | list[int]) -> Table:
    """The rows of a _data.star particle table whose rlnClassNumber is among ``classes``."""
    if "rlnClassNumber" not in data:
        raise InputError(None, "the particles have no rlnClassNumber (not a classification's _data.star)")
    keep = np.isin(data["rlnClassNumber"], np.asarray(classes))
    return Table.from_columns({label: values[keep] for label, values in data.columns.items()})


def limit_per_class(data: Table, max_per_class: int, generator: np.random.Generator) -> Table:
    """At most ``max_per_class`` particles of each class, chosen at random (input order kept)."""
    classes = data["rlnClassNumber"]
    keep = np.zeros(len(data), dtype=bool)
    for number in np.unique(classes):
        rows = np.flatnonzero(classes == number)
        chosen = rows if len(rows) <= max_per_class else generator.choice(rows, max_per_class, replace=False)
        keep[chosen] = True
    return Table.from_columns({label: values[keep] for label, values in data.columns.items()})


def regroup(data: Table, n_groups: int) -> Table:
    """Merge micrographs into about ``n_groups`` groups of similar intensity (RELION's regrouping).

    Micrographs are sorted by their particles' mean rlnNormCorrection (1 when absent) and cut into
    runs of about equal particle counts; rlnGroupName becomes group_NNN and rlnGroupNumber NNN.
    """
    if n_groups < 1:
        raise InputError(None, "the number of groups must be at least 1")
    if "rlnMicrographName" not in data:
        raise InputError(None, "regrouping needs rlnMicrographName")
    micrographs, index = np.unique(np.asarray(data["rlnMicrographName"]).astype(str), return_inverse=True)
    norm = np.asarray(data["rlnNormCorrection"], np.float64) if "rlnNormCorrection" in data else np.ones(len(data))
    counts = np.bincount(index, minlength=len(micrographs))
    mean_norm = np.bincount(index, weights=norm, minlength=len(micrographs)) / np.maximum(counts, 1)
    order = np.argsort(mean_norm, kind="stable")
    cumulative = np.cumsum(counts[order])
    group_of_sorted = np.minimum((cumulative - counts[order]) * n_groups // max(len(data), 1), n_groups - 1)
    group_of_micrograph = np.empty(len(micrographs), dtype=np.int64)
    group_of_micrograph[order] = group_of_sorted
    _, renumbered = np.unique(group_of_micrograph[index], return_inverse=True)
    columns = dict(data.columns)
    columns["rlnGroupNumber"] = renumbered + 1
    columns["rlnGroupName"] = np.array([f"group_{g + 1:03d}" for g in renumbered], dtype=object)
    return Table.from_columns(columns)


def micrographs_with_particles(micrographs: Table, particles: Table) -> Table:
    """The rows of a micrographs table whose rlnMicrographName holds at least one of the particles."""
    for table, kind in ((micrographs, "micrographs"), (particles, "particles")):
        if "rlnMicrographName" not in table:
            raise InputError(None, f"the {kind} have no rlnMicrographName")
    keep = np.isin(np.asarray(micrographs["rlnMicrographName"]).astype(str), np.asarray(particles["rlnMicrographName"]).astype(str))
    return Table.from_columns({label: values[keep] for label, values in micrographs.columns.items()})


def class_averages_table(summary: ClassSummary, classes: np.ndarray | list[int], stack_name: str) -> Table:
    """A class_averages.star table for the chosen classes, whose images will be written (in that
    order) to ``stack_name``: rlnReferenceImage, rlnClassDistribution, rlnEstimatedResolution."""
    rows = np.asarray(classes) - 1
    return Table.from_columns(
        {
            "rlnReferenceImage": format_image_names(np.arange(len(rows)), np.full(len(rows), stack_name)).astype(object),
            "rlnClassNumber": np.asarray(classes, dtype=np.int64),
            "rlnClassDistribution": summary.distribution[rows],
            "rlnEstimatedResolution": summary.resolution[rows],
        }
    )


def recentred_averages(summary: ClassSummary, classes: np.ndarray | list[int], radius: float | None = None) -> np.ndarray:
    """The chosen class averages (n, N, N) shifted so that their centre of mass (positive density
    within ``radius`` pixels, default N/2) lies at the box centre (for auto-picking templates)."""
    images = torch.from_numpy(_averages(summary)[np.asarray(classes) - 1])
    box = images.shape[-1]
    return recentre(images, box / 2 if radius is None else radius).numpy()


@dataclass(frozen=True)
class ClassScores:
    """Features and verdict of the automatic selection, per class: estimated resolution shell,
    particle count, elongation of the average's positive density, the fraction of that density
    within the particle radius, and whether the class is kept."""

    resolution_shell: np.ndarray
    particles: np.ndarray
    elongation: np.ndarray
    concentration: np.ndarray
    selected: np.ndarray


def rank_classes(
    summary: ClassSummary,
    n_particles: int,
    particle_radius_px: float,
    *,
    min_particles: int = 10,
    resolution_ratio: float = 0.7,
    max_elongation: float = 3.0,
    min_concentration: float = 0.6,
) -> ClassScores:
    """Automatic class selection from resolution, population and shape.

    A class is kept when it holds at least ``min_particles``; its estimated resolution reaches
    ``resolution_ratio`` of the shell that the best-resolved quarter of the particles' classes reach
    (junk averages stay blurry); the positive density of its average is not a streak (elongation
    √(λ_max/λ_min) of its second moments ≤ ``max_elongation``); and at least ``min_concentration``
    of that density lies within the particle radius.
    """
    averages = _averages(summary)
    box = averages.shape[-1]
    with np.errstate(divide="ignore"):
        shells = np.where(np.isfinite(summary.resolution) & (summary.resolution > 0),
                          box * summary.pixel_size / summary.resolution, 0.0)
    particles = np.rint(summary.distribution * n_particles).astype(np.int64)
    order = np.argsort(-shells)
    covered = np.cumsum(particles[order])
    reference = shells[order][np.searchsorted(covered, 0.25 * covered[-1])] if covered[-1] > 0 else 0.0
    elongation, concentration = _shape_features(averages, particle_radius_px)
    selected = (
        (particles >= min_particles)
        & (shells >= resolution_ratio * reference)
        & (elongation <= max_elongation)
        & (concentration >= min_concentration)
    )
    return ClassScores(shells, particles, elongation, concentration, selected)


def _averages(summary: ClassSummary) -> np.ndarray:
    if summary.averages is None:
        raise InputError(None, "this needs 2D class averages; the model holds 3D references")
    return summary.averages


def _shape_features(averages: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Elongation and radial concentration of each average's smoothed positive density."""
    k, box = averages.shape[0], averages.shape[-1]
    axis = np.arange(box) - box // 2
    y, x = np.meshgrid(axis, axis, indexing="ij")
    inside = x**2 + y**2 <= radius**2
    elongation, concentration = np.zeros(k), np.zeros(k)
    for i, image in enumerate(averages):  # K class averages: a handful of small images
        smooth = ndimage.gaussian_filter(image.astype(np.float64), 1.5)
        density = np.clip(smooth - np.median(smooth), 0, None)
        total = density.sum()
        if total <= 0:
            elongation[i], concentration[i] = math.inf, 0.0
            continue
        cx, cy = (density * x).sum() / total, (density * y).sum() / total
        cov = np.array([
            [(density * (x - cx) ** 2).sum(), (density * (x - cx) * (y - cy)).sum()],
            [(density * (x - cx) * (y - cy)).sum(), (density * (y - cy) ** 2).sum()],
        ]) / total
        low, high = np.linalg.eigvalsh(cov)
        elongation[i] = math.sqrt(high / max(low, 1e-12))
        concentration[i] = density[inside].sum() / total
    return elongation, concentration
