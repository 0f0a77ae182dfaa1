"""FOM maps: a z-score on noise, the matched-filter SNR on particles, blind to the references' grey scale."""

from __future__ import annotations

import math

import numpy as np
import torch

from vitreo.picking.fom import fom_maps
from vitreo.picking.micrograph import prepare_micrograph
from vitreo.picking.references import References
from vitreo.picking.templates import make_template_bank, template_transfer

BOX, SIZE, PIXEL = 32, 256, 4.0


def _reference() -> torch.Tensor:
    axis = torch.arange(BOX, dtype=torch.float32) - BOX // 2
    r2 = axis[:, None] ** 2 + axis[None, :] ** 2
    blob = torch.exp(-r2 / 20.0) - 0.25 * torch.exp(-r2 / 80.0)  # zero mean: the local mean does not matter
    return (blob + 0.3 * torch.exp(-((axis[:, None] - 4) ** 2 + axis[None, :] ** 2) / 4.0)
            - 0.3 * torch.exp(-((axis[:, None] + 4) ** 2 + axis[None, :] ** 2) / 4.0))[None]


def _micrograph(amplitude: float, seed: int = 0) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(SIZE, SIZE, generator=generator)
    positions = [(60, 70), (180, 90), (120, 200)]
    for x, y in positions:
        image[y - BOX // 2 : y + BOX // 2, x - BOX // 2 : x + BOX // 2] += amplitude * _reference()[0]
    return image, positions


def _maps(image: torch.Tensor, reference: torch.Tensor):
    prepared = prepare_micrograph(image, PIXEL, lowpass=-1.0, shrink=1.0, background_box=BOX, particle_radius=12)
    bank = make_template_bank(References(reference, PIXEL), prepared.grid.work_pixel_size, 360.0, BOX * PIXEL)
    return fom_maps(prepared, bank, template_transfer(prepared.grid, -1.0), chunk=1)


def test_fom_is_a_z_score_on_noise_and_the_matched_filter_snr_on_particles() -> None:
    amplitude = 3.0
    image, positions = _micrograph(amplitude)
    maps = _maps(image, _reference())
    fom = maps.fom.numpy()
    away = np.ones_like(fom, bool)
    for x, y in positions:
        away[y - BOX : y + BOX, x - BOX : x + BOX] = False
    assert abs(fom[away].mean()) < 0.1 and abs(fom[away].std() - 1.0) < 0.1
    expected = amplitude * math.sqrt(float(_reference().square().sum()))  # a·√ΣA² for noise σ = 1
    found = [fom[y, x] for x, y in positions]
    assert np.allclose(found, expected, rtol=0.15), (found, expected)
    for x, y in positions:  # the peak is where the particle is
        patch = fom[y - 2 : y + 3, x - 2 : x + 3]
        assert np.unravel_index(patch.argmax(), patch.shape) == (2, 2)


def test_fom_does_not_depend_on_the_grey_scale_of_the_references() -> None:
    image, _ = _micrograph(0.5, seed=1)
    once, thousandfold = _maps(image, _reference()), _maps(image, 1000 * _reference())
    assert torch.allclose(once.fom, thousandfold.fom, atol=1e-3)
