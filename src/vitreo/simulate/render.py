"""Image formation: from a micrograph plan to the frames a detector records.

Physics (weak-phase approximation, each step switchable in the config):

1. Specimen. Particles and junk are projected potentials Vp (V·Å) in boxes, pasted at their
   positions in each frame (the first frame's position moved by the local + global motion of
   :mod:`vitreo.simulate.motion`, sub-pixel by a Fourier phase ramp) onto a canvas larger than
   the frame (margins for CTF delocalisation and drift); the background (ice, carbon,
   contamination: :mod:`vitreo.simulate.background`) follows the same global and local motion. The phase
   is φ = σ·Vp, σ the interaction constant; its mean is removed (it carries no contrast).
2. Damage. Each frame's spectrum is attenuated by the Grant & Grigorieff filter averaged over
   the frame's exposure (:func:`vitreo.em.dose.frame_damage`).
3. Optics. The intensity is I = dose · T · (1 − 2·F⁻¹[CTF · MTF · Φ]) with RELION's CTF
   (positive at low frequency, amplitude contrast and envelope B included; so particles are
   dark on a bright background), T the transmission of the background, and the detector MTF
   applied to the contrast (T is smooth; its MTF blur is neglected). Without CTF, −2·φ.
4. Detector. Expected counts dose·p²·I (dose per frame in e/Å², p the pixel size) times each
   pixel's sensitivity, then Poisson noise; hot pixels read 10× the mean.

Positions are (x, y) pixels of the frame; images are (y, x) with the frame's pixel (0, 0) at
canvas pixel (margin, margin).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.fft
import torch

from vitreo.em.ctf import CtfParams, ctf_2d, electron_wavelength
from vitreo.em.dose import frame_damage
from vitreo.em.fourier import phase_shift, rfft_radius
from vitreo.em.projector import Projector
from vitreo.simulate.background import Background, render_background
from vitreo.simulate.config import SimulationConfig
from vitreo.io.mtf import mtf_file, read_mtf
from vitreo.simulate.detector import HOT_PIXEL_FACTOR, Detector, count_dtype, counts_per_pixel, mtf_response
from vitreo.simulate.junk import junk_box, render_junk
from vitreo.simulate.motion import MotionModel
from vitreo.simulate.plan import MicrographPlan

#: Objects are pasted in chunks of at most this many pixels (bounds the temporary memory).
_PASTE_CHUNK = 1 << 24


def interaction_constant(voltage_kv: float) -> float:
    """σ in rad/(V·Å), the phase per V·Å of projected potential (6.526e-4 at 300 kV).

    σ = 2π m e λ / h² with the relativistic mass, i.e. (2π / (λ V)) · (m₀c² + eV) / (2m₀c² + eV).
    """
    rest_kev = 510.99895
    wavelength = float(electron_wavelength(voltage_kv))
    return 2.0 * math.pi / (wavelength * voltage_kv * 1e3) * (rest_kev + voltage_kv) / (2.0 * rest_kev + voltage_kv)


@dataclass(frozen=True)
class CanvasGeometry:
    """A square canvas of ``size`` px holding the frame at offset ``margin``."""

    size: int
    margin: int


def canvas_geometry(config: SimulationConfig) -> CanvasGeometry:
    """Margins wide enough for CTF delocalisation at Nyquist, the largest drift and junk boxes."""
    pixel = config.pixel_size
    wavelength = float(electron_wavelength(config.voltage))
    s = 0.5 / pixel
    defocus = config.defocus_range[1] + config.astigmatism_max / 2 if config.ctf else 0.0
    delocalisation = (wavelength * defocus * s + config.cs * 1e7 * wavelength**3 * s**3) if config.ctf else 0.0
    drift = (1.5 * config.drift + config.local_motion) if config.motion else 0.0
    margin = max(math.ceil((delocalisation + drift) / pixel) + 8, junk_box(config.box) // 2)
    size = scipy.fft.next_fast_len(max(config.micrograph_size) + 2 * margin, real=True)
    return CanvasGeometry(size + size % 2, margin)


class Renderer:
    """Renders micrographs for one configuration: the maps' projectors and fixed filters, built once."""

    def __init__(self, config: SimulationConfig, volumes: tuple[np.ndarray, ...], detector: Detector) -> None:
        self.config = config
        self.device = torch.device(config.device)
        self.detector = detector
        self.sensitivity = (
            torch.from_numpy(detector.sensitivity).to(self.device) if detector.sensitivity is not None else None
        )
        self.projectors = [Projector(torch.tensor(v, device=self.device)) for v in volumes]
        self.sigma = interaction_constant(config.voltage)
        self.geometry = canvas_geometry(config)
        size = self.geometry.size
        path = mtf_file(config.mtf)
        self.mtf = (
            mtf_response(read_mtf(path), size, config.pixel_size, config.mtf_pixel_size, self.device)
            if path is not None
            else None
        )
        self.frequency = rfft_radius((size, size), self.device) / config.pixel_size  # 1/Å
        box = volumes[0].shape[-1]
        top_view = torch.fft.irfft2(self.projectors[0].project(torch.eye(3, device=self.device)[None]), s=(box, box))
        self.protein_peak = float(top_view.max()) * config.pixel_size  # V·Å, the scale of blob junk

    # --- frames -------------------------------------------------------------------------------

    def render(self, plan: MicrographPlan) -> tuple[Background, Iterator[np.ndarray]]:
        """The micrograph's background (for its summaries) and its recorded frames, (y, x) each,
        in the dataset's count type (see :func:`vitreo.simulate.detector.count_dtype`)."""
        generator = torch.Generator(device=self.device).manual_seed(plan.noise_seed)
        background = render_background(
            plan.background, self.config, self.geometry.size, self.geometry.margin, generator, self.device
        )
        dtype = count_dtype(self.config)
        frames = (
            self._detect(expected, generator).cpu().numpy().astype(dtype)
            for expected in self.expected_frames(plan, background)
        )
        return background, frames

    def expected_frames(self, plan: MicrographPlan, background: Background) -> Iterator[torch.Tensor]:
        """Noise-free expected counts per pixel, one (y, x) float32 tensor per frame."""
        config, geometry = self.config, self.geometry
        size, margin = geometry.size, geometry.margin
        width, height = config.micrograph_size
        groups = self._objects(plan)
        background_spectra = torch.fft.rfft2(torch.stack([background.potential * self.sigma,
                                                          background.transmission]))
        transfer = self._transfer(plan)
        dose_px = counts_per_pixel(config)
        for frame, (start, stop) in enumerate(config.frame_exposures):
            canvas = torch.zeros((size, size), device=self.device)
            for spectra, frame_positions in groups:
                paste(canvas, spectra, frame_positions[frame] + margin)
            phase, transmission = self._moved_background(background_spectra, plan.motion, frame)
            spectrum = torch.fft.rfft2(canvas + phase)
            spectrum[0, 0] = 0.0
            filtered = spectrum * transfer
            if config.damage:
                filtered = filtered * frame_damage(self.frequency, start, stop, config.voltage).to(filtered.real.dtype)
            contrast = torch.fft.irfft2(filtered, s=(size, size))
            intensity = dose_px * transmission * (1.0 + contrast)
            yield intensity[margin : margin + height, margin : margin + width].clamp_min(0.0)

    def _moved_background(self, spectra: torch.Tensor, motion: MotionModel, frame: int
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """The background's phase and transmission (canvas (y, x) each) in ``frame``, moved as the
        particles are: the specimen point at r in the first frame appears at r − s_f(r).

        The global shift plus the mean local shift over the field is applied exactly (a phase
        ramp on ``spectra``, the rfft of both maps); the rest of the local shift, a fraction of a
        pixel, by bicubic resampling at p + (L_f(p) − mean), as motion correction undoes it.
        """
        size, margin = self.geometry.size, self.geometry.margin
        width, height = self.config.micrograph_size
        local = motion.local
        gx, gy = np.meshgrid(np.linspace(0, width, 16), np.linspace(0, height, 16))
        mean = motion.local_shifts(gx.ravel(), gy.ravel())[frame].mean(0)
        moved = torch.fft.irfft2(phase_shift(spectra, torch.as_tensor(-(motion.global_shifts[frame] + mean),
                                                                      device=self.device), (size, size)),
                                 s=(size, size))
        if not local.coefficients.any():
            return moved[0], moved[1].clamp_min(0.0)
        a, b, c = local.separable([frame], size, 1.0, self.device, torch.float32, y_origin=-margin)
        x = (torch.arange(size, device=self.device, dtype=torch.float32) - margin) / width - 0.5
        to_grid = 2.0 / (size - 1)
        axis = torch.arange(size, device=self.device, dtype=torch.float32)
        grid = torch.empty((1, size, size, 2), device=self.device)
        for index, identity in ((0, axis[None, :]), (1, axis[:, None])):
            shift = a[0, index] + x * (b[0, index] + c[0, index] * x) - float(mean[index])
            grid[0, ..., index] = (identity + shift) * to_grid - 1.0
        sampled = torch.nn.functional.grid_sample(moved[None], grid, mode="bicubic", padding_mode="border",
                                                  align_corners=True)[0]
        return sampled[0], sampled[1].clamp_min(0.0)

    def _objects(self, plan: MicrographPlan) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Phase spectra (σ·Vp, rfft, centred boxes) of particles and junk, and their positions in
        every frame (F, n, 2)."""
        config = self.config
        groups = []
        for state, projector in enumerate(self.projectors, start=1):
            chosen = np.flatnonzero(plan.states == state)
            if chosen.size:
                rotations = torch.as_tensor(plan.rotations[chosen], dtype=projector.dtype, device=self.device)
                spectra = projector.project(rotations) * (config.pixel_size * self.sigma)
                groups.append((spectra, plan.positions[chosen]))
        if len(plan.junk):
            spectra = render_junk(plan.junk, self.projectors[0], config.pixel_size, self.protein_peak) * self.sigma
            groups.append((spectra, plan.junk_positions))
        return [
            (spectra, torch.as_tensor(plan.motion.positions(xy[:, 0], xy[:, 1]), device=self.device))
            for spectra, xy in groups
        ]

    def _transfer(self, plan: MicrographPlan) -> torch.Tensor:
        """−2·CTF·MTF on the canvas's rfft grid (−2·MTF without CTF)."""
        config = self.config
        size = self.geometry.size
        if config.ctf:
            u, v, angle = plan.defocus
            params = CtfParams.from_values(
                defocus_u=u, defocus_v=v, defocus_angle=angle, voltage=config.voltage, cs=config.cs,
                amplitude_contrast=config.amplitude_contrast, phase_shift=config.phase_shift,
                bfactor=config.envelope_bfactor, device=self.device,
            )
            transfer = -2.0 * ctf_2d(params, size, config.pixel_size)[0]
        else:
            transfer = torch.full((size, size // 2 + 1), -2.0, device=self.device)
        return transfer * self.mtf if self.mtf is not None else transfer

    # --- detector -------------------------------------------------------------------------------

    def _detect(self, expected: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Counts from expected counts: sensitivity, Poisson noise, hot pixels."""
        config, detector = self.config, self.detector
        if self.sensitivity is not None:
            expected = expected * self.sensitivity
        counts = _poisson(expected, generator) if config.shot_noise else expected
        if len(detector.hot_pixels):
            level = HOT_PIXEL_FACTOR * counts_per_pixel(config)
            hot = torch.full((len(detector.hot_pixels),), level, device=self.device)
            hot = _poisson(hot, generator) if config.shot_noise else hot
            xy = torch.as_tensor(detector.hot_pixels, device=self.device)
            counts[xy[:, 1], xy[:, 0]] = hot
        return counts


def _poisson(rates: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Poisson draws with the given rates (drawn on the generator's device)."""
    return torch.poisson(rates.to(generator.device), generator=generator).to(rates.device)


def paste(canvas: torch.Tensor, spectra: torch.Tensor, positions: torch.Tensor) -> None:
    """Add images, given as rfft (B, M, M//2+1) of boxes centred at M//2, so that their centres land
    at ``positions`` (B, 2) = (x, y) canvas pixels (sub-pixel by a phase ramp; periodic canvas)."""
    n, box = spectra.shape[0], spectra.shape[-2]
    size = canvas.shape[-1]
    if n == 0:
        return
    whole = torch.floor(positions)
    fraction = (positions - whole).to(spectra.real.dtype)
    corner = whole.long() - box // 2
    offsets = torch.arange(box, device=canvas.device)
    flat = canvas.view(-1)
    step = max(1, _PASTE_CHUNK // (box * box))
    for first in range(0, n, step):
        part = slice(first, first + step)
        images = torch.fft.irfft2(phase_shift(spectra[part], fraction[part], (box, box)), s=(box, box))
        rows = (corner[part, 1, None] + offsets) % size
        cols = (corner[part, 0, None] + offsets) % size
        index = rows[:, :, None] * size + cols[:, None, :]
        flat.index_add_(0, index.reshape(-1), images.reshape(-1).to(canvas.dtype))
