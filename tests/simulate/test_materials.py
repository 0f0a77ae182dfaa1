"""Ice and carbon: mean potentials, random-atom noise, electron transmission."""

from __future__ import annotations

import pytest
import torch

from vitreo.em.fourier import rfft_radius
from vitreo.simulate.background import amorphous_potential
from vitreo.simulate.density import VOLT_A2
from vitreo.simulate.materials import AMORPHOUS_CARBON, VITREOUS_ICE
from vitreo.simulate.render import interaction_constant


def test_mean_inner_potentials_and_mean_free_paths() -> None:
    assert VITREOUS_ICE.number_density == pytest.approx(0.0314, rel=1e-2)  # 0.94 g/cm³ of water
    assert VITREOUS_ICE.mean_potential == pytest.approx(4.57, rel=1e-2)  # independent-atom value
    assert AMORPHOUS_CARBON.mean_potential == pytest.approx(12.0, rel=1e-2)
    assert VITREOUS_ICE.mean_free_path(300.0) == pytest.approx(3500.0)
    assert AMORPHOUS_CARBON.mean_free_path(300.0) < VITREOUS_ICE.mean_free_path(200.0) < 3500.0
    assert interaction_constant(300.0) == pytest.approx(6.526e-4, rel=1e-3)
    assert interaction_constant(200.0) == pytest.approx(7.29e-4, rel=2e-3)


def test_amorphous_layer_has_random_atom_statistics() -> None:
    size, pixel, thickness, structure_factor = 256, 2.0, 400.0, 0.1
    layer = torch.full((size, size), thickness, dtype=torch.float64)
    potential = amorphous_potential(VITREOUS_ICE, layer, pixel, structure_factor, torch.Generator().manual_seed(1))
    assert float(potential.mean()) == pytest.approx(VITREOUS_ICE.mean_potential * thickness, rel=1e-3)
    s = rfft_radius((size, size), dtype=torch.float64) / pixel
    power = torch.fft.rfft2(potential - potential.mean()).abs().square()
    units = VITREOUS_ICE.number_density * thickness * pixel**2  # per pixel
    expected = size * size * structure_factor * units * (VITREOUS_ICE.form_factor(s) * VOLT_A2 / pixel**2) ** 2
    for low, high in ((0.02, 0.06), (0.1, 0.15), (0.2, 0.24)):
        shell = (s > low) & (s < high)
        assert float(power[shell].mean() / expected[shell].mean()) == pytest.approx(1.0, abs=0.05)
