"""Conventions checked on RELION's own files: a RELION 5 Class2D's alignments are found again by
aligning its particles to its class averages (psi sense, origin sign, CTF, box handling)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.io.image_refs import read_images
from vitreo.io.mrc import read_mrc
from vitreo.io.optics import with_optics
from vitreo.io.star import read_star
from vitreo.picking.sorting import SortSettings, sort_particles

DATA = "star/relion5_betagal_sppractice/Class2D/job010/run_it025_data.star"
IMAGES = "images/relion5_betagal_sppractice"
MICROGRAPH = "MotionCorr/job002/Movies/20170629_00021_frameImage.mrc"  # the one whose particles are shipped


def test_class2d_alignments_are_recovered_from_relion_class_averages(shared_data: Path) -> None:
    blocks = read_star(shared_data / DATA)
    columns = with_optics(blocks["particles"], blocks["optics"])
    rows = np.flatnonzero(columns["rlnMicrographName"] == MICROGRAPH)
    classes = columns["rlnClassNumber"][rows]
    popular = np.argsort(-np.bincount(classes))[:4]  # the four most populated classes here
    rows = rows[np.isin(classes, popular)]
    images = torch.from_numpy(read_images(columns["rlnImageName"][rows], project_dir=shared_data / IMAGES))
    averages, _ = read_mrc(shared_data / IMAGES / "Class2D/job010/run_it025_classes.mrcs")
    references = torch.from_numpy(averages[popular - 1])
    pixel = float(columns["rlnImagePixelSize"][0])
    ctf = CtfParams.from_columns({k: columns[k][rows] for k in ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle",
                                                               "rlnVoltage", "rlnSphericalAberration",
                                                               "rlnAmplitudeContrast")})
    origins = np.stack([columns["rlnOriginXAngst"][rows], columns["rlnOriginYAngst"][rows]], 1) / pixel
    n = len(rows)
    result = sort_particles(images, references, pixel, np.full(n, -1), np.full(n, np.nan), origins, ctf,
                            SortSettings(mask_radius=0.5 * 180 / pixel, psi_step=10.0, max_shift=2.0))
    expected = np.searchsorted(popular, classes[np.isin(classes, popular)], sorter=np.argsort(popular))
    expected = np.argsort(popular)[expected]
    psi_error = (result.psi - columns["rlnAnglePsi"][rows] + 180) % 360 - 180
    agree = (result.reference == expected) & (np.abs(psi_error) <= 15)
    assert n >= 40 and agree.mean() > 0.6, (n, agree.mean())  # chance: about 1/4 × 30/360
    assert np.isfinite(result.zscore).all()
