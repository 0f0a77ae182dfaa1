"""Amorphous materials around the particles: vitreous ice and carbon film.

A material is a random arrangement of scattering units (a water molecule, a carbon atom) at a
number density n (units/Å³). Its mean Coulomb potential is VOLT_A2 · n · f_e(0) (volts), with
f_e the unit's electron scattering factor (Peng 1996, the same tables as
:mod:`vitreo.simulate.density`). A layer of thickness t holds n·t units per Å², so its
projected potential fluctuates with power n·t·S·|VOLT_A2 · f_e(s)|² per Å² of area at
frequency s (1/Å), S the structure factor relative to independent atoms (≈ 0.1 at low
resolution for a dense amorphous solid or liquid). Electrons scattered outside the
objective aperture or inelastically are lost: a layer transmits exp(−t/Λ) of them, Λ the
mean free path (about 3,500 Å for ice at 300 kV, shorter for denser materials and lower
voltages, scaling as mass density⁻¹ and β²).
"""

from __future__ import annotations

from dataclasses import dataclass

import gemmi
import torch

from vitreo.em.dose import beta_squared
from vitreo.simulate.density import VOLT_A2

#: Mean free path (Å) in vitreous ice at 300 kV for electrons lost to the image (inelastic and
#: high-angle elastic scattering); Λ scales with β² and inversely with mass density.
ICE_MEAN_FREE_PATH_300KV = 3500.0
_ICE_MASS_DENSITY = 0.94


@dataclass(frozen=True)
class Material:
    """An amorphous material: its scattering unit (element counts), number density and mass density."""

    name: str
    unit: tuple[tuple[str, int], ...]
    number_density: float  # units per Å³
    mass_density: float  # g/cm³

    def form_factor(self, s: torch.Tensor) -> torch.Tensor:
        """Electron scattering factor of one unit (Å) at frequencies ``s`` (1/Å): Σ count · f_e(s)."""
        s2 = s * s
        total = torch.zeros_like(s2)
        for symbol, count in self.unit:
            coefficients = gemmi.Element(symbol).c4322
            for a, b in zip(coefficients.a, coefficients.b, strict=True):
                total = total + count * a * torch.exp(-0.25 * b * s2)
        return total

    @property
    def mean_potential(self) -> float:
        """Mean inner potential (V) of the material as independent atoms."""
        return VOLT_A2 * self.number_density * float(self.form_factor(torch.zeros(())))

    def mean_free_path(self, voltage_kv: float) -> float:
        """Λ (Å): the thickness that transmits 1/e of the electrons into the image."""
        return (
            ICE_MEAN_FREE_PATH_300KV
            * (_ICE_MASS_DENSITY / self.mass_density)
            * (beta_squared(voltage_kv) / beta_squared(300.0))
        )


def _number_density(mass_density: float, unit_mass_da: float) -> float:
    """Units per Å³ from a mass density (g/cm³) and the mass of one unit (Da)."""
    return mass_density / (unit_mass_da * 1.66053906660e-24) * 1e-24


VITREOUS_ICE = Material(
    "vitreous ice", (("O", 1), ("H", 2)), _number_density(_ICE_MASS_DENSITY, 18.015), _ICE_MASS_DENSITY
)
AMORPHOUS_CARBON = Material("amorphous carbon", (("C", 1),), _number_density(2.0, 12.011), 2.0)

#: Partial specific volume of protein, 0.73 cm³/g, as Å³ per Da of mass.
PROTEIN_VOLUME_PER_DA = 0.73 / 0.602214076

