"""Acceptance against `vitreo simulate` truth on the tiny preset (carbon and junk present).

- template picking with references projected from the true map: precision and recall ≥ 0.9 at a
  matching distance of 0.25 × the particle diameter; Gaussian-blob picking recall ≥ 0.8;
- particles extracted at the true coordinates are centred within 1 px of where the truth origins
  put them, and their background has mean 0 and standard deviation 1;
- sorting puts the junk in the worst-scoring part (ROC AUC ≥ 0.9).
The same measurements on the tutorial preset are in benchmarks/bench_autopick.py and bench_extract.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.picking.datasets import DIAMETER, junk_dataset, tiny_dataset, true_centres
from vitreo.em.ctf import CtfParams, ctf_2d
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.em.normalise import background_mask, default_bg_radius
from vitreo.em.projector import Projector
from vitreo.io.mrc import read_mrc
from vitreo.io.optics import with_optics
from vitreo.io.star import read_star
from vitreo.picking.autopick import PeakSettings, TemplatePicker, TemplateSettings
from vitreo.picking.evaluate import pick_scores, roc_auc
from vitreo.picking.extraction import ExtractSettings, cut_boxes, prepare_boxes, select_boxes
from vitreo.picking.micrograph_table import read_micrograph_table
from vitreo.picking.peaks import subpixel_offsets
from vitreo.picking.references import References, gaussian_blob, project_map
from vitreo.picking.sorting import SortSettings, sort_particles


@pytest.fixture
def in_tiny(monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tiny_dataset()
    monkeypatch.chdir(root)
    return root


def _pick(root: Path, picker: TemplatePicker) -> dict[str, np.ndarray]:
    picks = {}
    for entry in read_micrograph_table("truth/micrographs.star").entries:
        image, _ = read_mrc(entry.name)
        ctf = entry.ctf_params() if picker.settings.use_ctf else None
        peaks = picker.pick(picker.compute(torch.from_numpy(image), entry.pixel_size, ctf))
        picks[entry.name] = np.stack([peaks.x, peaks.y], 1)
    return picks


def _scores(root: Path, picks: dict[str, np.ndarray]):
    truth = {name: true_centres(root, name) for name in picks}
    return pick_scores(picks, truth, 0.25 * DIAMETER / 4.5)


def test_template_picking_with_references_from_the_true_map(in_tiny: Path) -> None:
    references = project_map("truth/map.mrc", 4.5, 1, "D2")  # 30° views of the asymmetric unit
    picker = TemplatePicker(References(-references.images, references.pixel_size),
                            TemplateSettings(psi_step=10.0, mask_diameter=DIAMETER),
                            PeakSettings(threshold=6.5, min_distance=180.0, max_stddev=1.2))
    scores = _scores(in_tiny, _pick(in_tiny, picker))
    assert scores.precision >= 0.9 and scores.recall >= 0.9, scores


def test_gaussian_blob_picking_recall(in_tiny: Path) -> None:
    picker = TemplatePicker(gaussian_blob(DIAMETER, 4.5, -1.0),
                            TemplateSettings(psi_step=360.0, use_ctf=False, mask_diameter=DIAMETER),
                            PeakSettings(threshold=2.5, min_distance=180.0, max_stddev=1.2))
    scores = _scores(in_tiny, _pick(in_tiny, picker))
    assert scores.recall >= 0.8 and scores.precision >= 0.4, scores


def _particles(root: Path, junk: bool | None) -> tuple[dict, np.ndarray]:
    blocks = read_star(root / "truth" / "particles.star")
    table = blocks["particles"]
    rows = np.ones(len(table), bool) if junk is None else table["rlnVitreoIsJunk"] == int(junk)
    return with_optics(table, blocks["optics"]), np.flatnonzero(rows)


def _extract_true(root: Path, box: int, junk: bool | None) -> tuple[torch.Tensor, np.ndarray, dict]:
    """Particles cut at the truth's coordinates (normalised, inverted), and which rows they are."""
    columns, rows = _particles(root, junk)
    images, kept = [], []
    for name in np.unique(columns["rlnMicrographName"][rows]):
        here = rows[columns["rlnMicrographName"][rows] == name]
        micrograph, _ = read_mrc(root / name)
        xy = np.stack([columns["rlnCoordinateX"][here], columns["rlnCoordinateY"][here]], 1)
        selection = select_boxes(xy, box, micrograph.shape)
        images.append(prepare_boxes(cut_boxes(torch.from_numpy(micrograph), xy[selection.kept], box),
                                    ExtractSettings(box=box)))
        kept.append(here[selection.kept])
    return torch.cat(images), np.concatenate(kept), columns


WINDOW = 6  # px searched around the box centre for the particle's centre


def test_particles_extracted_at_true_coordinates_are_centred_and_normalised() -> None:
    root = tiny_dataset()
    images, rows, columns = _extract_true(root, 64, junk=False)
    pixel, box = 4.5, 64
    background = background_mask(box, default_bg_radius(box))
    assert torch.allclose(images[:, background].mean(-1), torch.zeros(len(images)), atol=0.05)
    assert torch.allclose(images[:, background].std(-1, correction=0), torch.ones(len(images)), atol=0.05)
    volume, _ = read_mrc(root / "truth" / "map.mrc")
    rotations = euler_degrees_to_matrix(*(torch.from_numpy(columns[f"rlnAngle{a}"][rows]) for a in ("Rot", "Tilt", "Psi")))
    ctf = CtfParams.from_columns({k: v[rows] for k, v in columns.items() if k.startswith("rln") and k in (
        "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast")})
    models = Projector(torch.from_numpy(volume)).project(rotations.float()) * ctf_2d(ctf, box, pixel)
    ccf = torch.fft.irfft2(torch.fft.rfft2(images) * models.conj(), s=(box, box))  # peak at the particle's shift
    ccf = torch.fft.fftshift(ccf, dim=(-2, -1))  # zero shift at (box/2, box/2)
    window = slice(box // 2 - WINDOW, box // 2 + WINDOW + 1)  # a mis-centred particle would peak at the edge
    flat = ccf[:, window, window].reshape(len(images), -1).argmax(-1)
    found = []
    for i, (row, col) in enumerate(zip((flat // (2 * WINDOW + 1)).tolist(), (flat % (2 * WINDOW + 1)).tolist())):
        row, col = row + box // 2 - WINDOW, col + box // 2 - WINDOW
        dy, dx = subpixel_offsets(ccf[i], torch.tensor([row]), torch.tensor([col]))
        found.append([col + float(dx) - box // 2, row + float(dy) - box // 2])
    expected = -np.stack([columns["rlnOriginXAngst"][rows], columns["rlnOriginYAngst"][rows]], 1) / pixel
    error = np.hypot(*(np.array(found) - expected).T)
    assert np.all(error < 1.0), error.max()


def test_sorting_puts_the_junk_last() -> None:
    root = junk_dataset()
    images, rows, columns = _extract_true(root, 64, junk=None)
    junk = columns["rlnVitreoIsJunk"][rows] == 1
    assert junk.sum() >= 8
    references = project_map(root / "truth" / "map.mrc", 4.5, 1, "D2")
    ctf = CtfParams.from_columns({k: v[rows] for k, v in columns.items() if k in (
        "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast")})
    n = len(images)
    result = sort_particles(images, references.images, 4.5, np.full(n, -1), np.full(n, np.nan), np.zeros((n, 2)),
                            ctf, SortSettings(mask_radius=0.5 * DIAMETER / 4.5, psi_step=10.0, max_shift=4.0))
    assert roc_auc(result.zscore, junk) >= 0.9
