"""CTF estimation of one micrograph, end to end (CTFFIND4's approach).

1. the amplitude spectrum: given (RELION's ``_PS.mrc``) or averaged over tiles of the
   micrograph (``spectra.tile_spectrum``), optionally on a central window only; the fit band
   leaves out the central cross and streaks through the origin (``ctf_spectrum``);
2. the mean defocus (and phase shift) by exhaustive search on the rotational average with a
   fitted smooth background and envelope (``ctf_search``, ``ctf_background``);
3. the astigmatism by exhaustive search on the 2D spectrum and local refinement of all
   parameters (``ctf_refine``); with several 1D candidates, the one whose astigmatism-
   corrected (equi-phase) profile is best explained by background + envelope × CTF² wins
   (2D scores are not comparable across candidates: each has its own background); the
   refinement is repeated with the background of that profile;
4. quality: the fit's score (rlnCtfFigureOfMerit), the equi-phase profile, ring-by-ring
   correlation and the fit resolution (rlnCtfMaxResolution) (``ctf_quality``), and a
   diagnostic image as CTFFIND draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vitreo.preprocess.ctf_background import BackgroundFit, RadialBasis, fit_background, ring_weights
from vitreo.preprocess.ctf_model import CtfFitParams, Optics, ctf_squared, fit_params
from vitreo.preprocess.ctf_quality import RingStatistics, equivalent_radius, ring_statistics
from vitreo.preprocess.ctf_refine import refine_fit
from vitreo.preprocess.ctf_search import BandSamples, band_samples, search_astigmatism, search_mean_defocus
from vitreo.preprocess.ctf_spectrum import SpectrumGrid, radial_profile, streak_mask
from vitreo.preprocess.spectra import tile_spectrum

ASTIGMATISM_SEARCH = 1000.0  # Å: half-astigmatism searched at least up to this (or 3 × the expected astigmatism)
CANDIDATES = 1  # 1D candidates taken on to 2D (more were no better on simulated data, and slower)


@dataclass(frozen=True)
class CtfSettings:
    """Search parameters (RELION/CTFFIND names in brackets): resolution band (Å) [ResMin, ResMax],
    defocus range and step (Å) [dFMin, dFMax, FStep], expected astigmatism (Å) [dAst], phase-shift
    search (min, max, step) in degrees or None [phase_min/max/step], exhaustive search [slow_search],
    tile size [Box] and central window (px, ≤ 0: whole micrograph) [ctf_win]."""

    optics: Optics
    res_min: float = 30.0
    res_max: float = 5.0
    defocus_min: float = 5000.0
    defocus_max: float = 50000.0
    defocus_step: float = 500.0
    astigmatism: float = 100.0
    phase_search: tuple[float, float, float] | None = None
    exhaustive: bool = False
    box: int = 512
    window: int = -1


@dataclass(frozen=True)
class CtfEstimate:
    """A fitted CTF with its quality figures, profiles and diagnostic image."""

    params: CtfFitParams
    score: float
    rings: RingStatistics
    rotational: np.ndarray  # (n_bins,) processed rotational average, astigmatism ignored
    equiphase: np.ndarray  # (n_bins,) processed equi-phase average
    diagnostic: np.ndarray  # (N, N) float32
    pixel_size: float
    box: int

    @property
    def fit_resolution(self) -> float:
        return self.rings.fit_resolution


def micrograph_spectrum(image: np.ndarray, box: int, window: int = -1) -> torch.Tensor:
    """Tile-averaged amplitude spectrum (box, box), centred, of a micrograph or of its central ``window``²."""
    data = torch.as_tensor(np.asarray(image, dtype=np.float32))
    if window > 0:
        ny, nx = data.shape
        w_y, w_x = min(window, ny), min(window, nx)
        data = data[(ny - w_y) // 2 : (ny - w_y) // 2 + w_y, (nx - w_x) // 2 : (nx - w_x) // 2 + w_x]
    return tile_spectrum(data.to(torch.float64), box)


def estimate_ctf(spectrum: torch.Tensor, pixel_size: float, settings: CtfSettings) -> CtfEstimate:
    """Fit the CTF to a centred amplitude spectrum (N, N) of pixel size ``pixel_size`` Å (see module docstring)."""
    spectrum = spectrum.to(torch.float64)
    grid = SpectrumGrid.make(spectrum.shape[-1], pixel_size, spectrum.device)
    r_min = grid.radius_of(settings.res_min)
    r_max = min(grid.box / 2.0 - 1.0, grid.radius_of(settings.res_max))
    if not 4 <= r_min < r_max - 8:
        raise ValueError(f"resolution band {settings.res_min}–{settings.res_max} Å leaves too few rings in a "
                         f"{grid.box}-px spectrum at {pixel_size:.3f} Å/px")
    band = grid.band(r_min, r_max)
    band = band & ~streak_mask(spectrum, grid, band)
    profile, counts = radial_profile(spectrum, grid.radius, grid.n_bins, band)
    radii = torch.arange(math.ceil(r_min), math.floor(r_max) + 1, device=spectrum.device)
    radius = radii.to(torch.float64)
    ring_s2 = grid.frequency(radius) ** 2
    weights = ring_weights(profile, counts)[radii]
    basis = RadialBasis(r_min, r_max)
    optics = settings.optics
    search = (settings.defocus_min, settings.defocus_max, settings.defocus_step)
    candidates = search_mean_defocus(profile[radii], radius, ring_s2, weights, basis, optics, search,
                                     settings.phase_search)
    half_step, angle_step = (50.0, 5.0) if settings.exhaustive else (100.0, 15.0)
    limits = (settings.defocus_min, settings.defocus_max)
    fit_phase = settings.phase_search is not None
    best: tuple[float, CtfFitParams, BackgroundFit] | None = None
    for mean, phase in candidates[:CANDIDATES]:
        start = CtfFitParams(mean, mean, 0.0, phase)
        background = fit_background(profile[radii], radius, ctf_squared(fit_params(start, optics, spectrum.device),
                                                                          ring_s2)[0], weights, basis)
        samples = _band_samples(spectrum, grid, band, background, optics)
        guess = search_astigmatism(samples, mean, phase, max(ASTIGMATISM_SEARCH, 1.5 * settings.astigmatism),
                                   half_step, angle_step, settings.astigmatism)
        params, _ = refine_fit(samples.every(2), guess, settings.astigmatism, fit_phase, limits)
        corrected = _equiphase_fit(spectrum, grid, band, radii, params, optics, basis)
        if best is None or corrected.rss < best[0]:
            best = (corrected.rss, params, corrected)
    assert best is not None
    _, params, background = best
    samples = _band_samples(spectrum, grid, band, background, optics)
    params, score = refine_fit(samples, params, settings.astigmatism, fit_phase, limits)
    rings = ring_statistics(spectrum, grid, params, optics, r_min)
    return CtfEstimate(params, score, rings, *_processed_profiles(spectrum, grid, background, rings, params, optics),
                       pixel_size, grid.box)


def _equiphase_fit(spectrum: torch.Tensor, grid: SpectrumGrid, band: torch.Tensor, radii: torch.Tensor,
                   params: CtfFitParams, optics: Optics, basis: RadialBasis) -> BackgroundFit:
    """Background and envelope of the astigmatism-corrected (equi-phase) profile under ``params``; its
    residual compares candidate fits on the same footing."""
    equiphase, counts = radial_profile(spectrum, equivalent_radius(grid, params, optics), grid.n_bins, band)
    mean = CtfFitParams(params.mean_defocus, params.mean_defocus, 0.0, params.phase_shift)
    ring_s2 = grid.frequency(radii.to(torch.float64)) ** 2
    model = ctf_squared(fit_params(mean, optics, spectrum.device), ring_s2)[0]
    return fit_background(equiphase[radii], radii.to(torch.float64), model, ring_weights(equiphase, counts)[radii],
                          basis)


def _band_samples(spectrum: torch.Tensor, grid: SpectrumGrid, band: torch.Tensor, fit: BackgroundFit,
                  optics: Optics) -> BandSamples:
    radius = grid.radius[band]
    return band_samples(spectrum[band], grid.s2[band], grid.azimuth[band], fit.background(radius), fit.envelope(radius),
                        optics)


def _processed_profiles(spectrum: torch.Tensor, grid: SpectrumGrid, fit: BackgroundFit, rings: RingStatistics,
                        params: CtfFitParams, optics: Optics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background-subtracted, envelope-normalised rotational and equi-phase profiles, and the diagnostic image."""
    bins = torch.arange(grid.n_bins, dtype=torch.float64, device=spectrum.device)
    scale = fit.envelope(bins).abs().clamp_min(1e-30)
    rotational, _ = radial_profile(spectrum, grid.radius, grid.n_bins, grid.half_plane)
    rotational = (rotational - fit.background(bins)) / scale
    equiphase = (rings.equiphase - fit.background(bins)) / scale
    processed = (spectrum - fit.background(grid.radius)) / fit.envelope(grid.radius).abs().clamp_min(1e-30)
    model = ctf_squared(fit_params(params, optics, spectrum.device), grid.s2.reshape(-1),
                        grid.azimuth.reshape(-1))[0].reshape(grid.box, grid.box)
    diagnostic = _diagnostic(processed, model, equiphase, grid, fit.basis.r_min, fit.basis.r_max, params, optics)
    return rotational.cpu().numpy(), equiphase.cpu().numpy(), diagnostic


def _diagnostic(processed: torch.Tensor, model: torch.Tensor, equiphase: torch.Tensor, grid: SpectrumGrid,
                r_min: float, r_max: float, params: CtfFitParams, optics: Optics) -> np.ndarray:
    """CTFFIND 4.1's picture (N, N): the processed spectrum, with the fitted CTF² in the quadrant of the
    first rows and first columns and the equi-phase average drawn as rings in the first rows' other
    quadrant, both within the fit band (as CTFFIND writes it: the lower half in an MRC viewer, which
    puts row 0 at the bottom; the upper half in relion_display). Rows from N//2 on hold the spectrum."""
    n = grid.box
    in_band = (grid.radius >= r_min) & (grid.radius <= r_max)
    values = processed[in_band]
    centre, spread = values.median(), values.std().clamp_min(1e-30)
    image = ((processed - centre) / spread).clamp(-3.0, 3.0)
    first_rows = torch.zeros_like(in_band)
    first_rows[: n // 2, :] = True
    left = torch.zeros_like(in_band)
    left[:, : n // 2] = True
    image = torch.where(first_rows & left & in_band, 3.0 * (model - 0.5), image)
    ring_radius = equivalent_radius(grid, params, optics).round().long().clamp(0, grid.n_bins - 1)
    rings = ((equiphase[ring_radius] - centre) / spread).clamp(-3.0, 3.0)
    image = torch.where(first_rows & ~left & in_band, rings, image)
    return image.to(torch.float32).cpu().numpy()


__all__ = ["CtfSettings", "CtfEstimate", "micrograph_spectrum", "estimate_ctf"]
