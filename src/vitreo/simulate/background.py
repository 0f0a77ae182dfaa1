"""What lies around the particles: the ice layer, a carbon edge and ice contamination.

Each is a thickness map (Å) of an amorphous material (:mod:`vitreo.simulate.materials`) on
the rendering canvas (y, x): the ice layer varies smoothly about its mean; a carbon film
fills the outside of a round hole (1–2 µm across) whose edge crosses the field; ice
contamination balls are spheres 60–300 nm across. From the thicknesses come the projected
potential (V·Å: the mean potential plus the random-atom fluctuations of each material) and
the transmission exp(−Σ t/Λ) of electrons into the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.fourier import rfft_radius
from vitreo.simulate.config import SimulationConfig
from vitreo.simulate.density import VOLT_A2
from vitreo.simulate.materials import AMORPHOUS_CARBON, VITREOUS_ICE, Material

#: Correlation length of ice-thickness variations, as a fraction of the field.
_ICE_CORRELATION = 0.25


@dataclass(frozen=True)
class BackgroundSpec:
    """Random geometry of one micrograph's surroundings, in field pixels (x, y)."""

    hole: tuple[float, float, float] | None  # carbon: hole centre x, y and radius (px); None: no carbon
    contamination: np.ndarray  # (k, 3): centre x, y and radius (px) of ice balls


@dataclass(frozen=True)
class Background:
    """Projected potential (V·Å) and transmission (0..1] on the canvas, both (y, x), and two
    summaries of the field: mean ice thickness (Å, contamination included) and carbon fraction."""

    potential: torch.Tensor
    transmission: torch.Tensor
    ice_thickness: float
    carbon_fraction: float


def draw_background(rng: np.random.Generator, config: SimulationConfig) -> BackgroundSpec:
    """Random carbon edge (with probability ``carbon_probability``) and contamination for one micrograph."""
    width, height = config.micrograph_size
    pixel = config.pixel_size
    hole = None
    if config.carbon_thickness > 0 and rng.random() < config.carbon_probability:
        radius = rng.uniform(5000.0, 10000.0) / pixel
        angle = rng.uniform(0.0, 2.0 * math.pi)
        edge = rng.uniform(0.1, 0.45) * min(width, height)  # edge's distance from the field centre
        centre = np.array([width / 2, height / 2]) - (radius - edge) * np.array([math.cos(angle), math.sin(angle)])
        hole = (float(centre[0]), float(centre[1]), float(radius))
    count = rng.poisson(config.contamination)
    contamination = np.column_stack(
        [rng.uniform(0, width, count), rng.uniform(0, height, count), rng.uniform(300.0, 1500.0, count) / pixel]
    )
    return BackgroundSpec(hole, contamination)


def render_background(
    spec: BackgroundSpec, config: SimulationConfig, canvas: int, margin: int, generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> Background:
    """The background on a canvas × canvas grid whose field starts at pixel (margin, margin)."""
    pixel = config.pixel_size
    axis = torch.arange(canvas, dtype=torch.float32, device=device) - margin
    x, y = axis[None, :], axis[:, None]
    ice = config.ice_thickness * (1.0 + config.ice_variation * _smooth_field(canvas, generator, device))
    ice = ice.clamp_min(0.0) if config.ice_thickness > 0 else torch.zeros_like(ice)
    for cx, cy, radius in spec.contamination:
        r2 = ((x - cx) ** 2 + (y - cy) ** 2) / radius**2
        ice = ice + 2.0 * radius * pixel * torch.sqrt((1.0 - r2).clamp_min(0.0))
    carbon = torch.zeros_like(ice)
    if spec.hole is not None:
        cx, cy, radius = spec.hole
        outside = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2) - radius
        carbon = config.carbon_thickness * torch.sigmoid(outside / 2.0)
    width, height = config.micrograph_size
    field = (slice(margin, margin + height), slice(margin, margin + width))
    on_carbon = float((carbon[field] > 0.5 * config.carbon_thickness).float().mean()) if spec.hole else 0.0
    potential = torch.zeros_like(ice)
    absorbed = torch.zeros_like(ice)
    for material, thickness in ((VITREOUS_ICE, ice), (AMORPHOUS_CARBON, carbon)):
        if float(thickness.max()) <= 0:
            continue
        potential = potential + amorphous_potential(material, thickness, pixel, config.amorphous_contrast, generator)
        absorbed = absorbed + thickness / material.mean_free_path(config.voltage)
    return Background(potential, torch.exp(-absorbed), float(ice[field].mean()), on_carbon)


def amorphous_potential(
    material: Material, thickness: torch.Tensor, pixel_size: float, structure_factor: float, generator: torch.Generator
) -> torch.Tensor:
    """Projected potential (V·Å) of a layer of ``thickness`` (Å, (y, x) square): mean plus random-atom noise.

    Units per pixel c = n·t·p² plus Gaussian noise of variance S·c; the image is c convolved with
    one unit's projected potential, whose transform is VOLT_A2·f_e(s)/p² per pixel.
    """
    units = material.number_density * thickness * pixel_size**2
    noise = torch.randn(units.shape, generator=generator, device=generator.device).to(units.device)
    counts = units + torch.sqrt(structure_factor * units) * noise
    shape = tuple(thickness.shape)
    s = rfft_radius(shape, units.device, units.dtype) / pixel_size
    kernel = VOLT_A2 * material.form_factor(s) / pixel_size**2
    return torch.fft.irfft2(torch.fft.rfft2(counts) * kernel, s=shape)


def _smooth_field(canvas: int, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """A periodic Gaussian random field (canvas, canvas) of unit standard deviation, smooth over a
    quarter of the canvas."""
    noise = torch.randn((canvas, canvas), generator=generator, device=generator.device).to(device)
    k = rfft_radius((canvas, canvas), device) * canvas * _ICE_CORRELATION
    field = torch.fft.irfft2(torch.fft.rfft2(noise) * torch.exp(-2.0 * k * k), s=(canvas, canvas))
    field = field - field.mean()
    return field / field.std().clamp_min(1e-12)
