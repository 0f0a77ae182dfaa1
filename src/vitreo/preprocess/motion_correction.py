"""Motion correction of one movie, end to end (MotionCor2's algorithm as RELION's own implementation runs it).

1. frames of the sum, gain-corrected, defects and hot pixels filled (``movie_frames``);
2. optionally RELION's power spectrum for CTF estimation (``spectra.movie_spectrum``);
3. global alignment of the frames (``alignment``), the trajectory smoothed (``trajectory``);
4. with ≥ 3 × 3 patches, alignment of the patches of the globally aligned frame groups
   (``group_frames``; groups only serve local alignment, as in RELION) and a fit of RELION's
   third-order polynomial to their shifts (``patches``, ``motion_model``), shrunk towards
   zero as noise demands; the local model is dropped when nothing is left of it, it fits
   worse than 10 px RMS (RELION's limit), or it does not add high-resolution signal to the
   sum (even/odd half-sum cross power; its resampling blurs too);
5. the aligned sums: dose-weighted and/or not, binned (``summation``), and optionally the
   aligned frames.

Shifts are RELION's (pixels of the movie, the shift that aligns each frame, frame 1 = 0).
All heavy work is batched torch on ``device``; results come back as numpy arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from vitreo.em.fourier import rfft_radius, shift_phases
from vitreo.em.motion_polynomial import PolynomialMotion
from vitreo.io.errors import InputError
from vitreo.preprocess.alignment import align_stack, alignment_grid, crop_spectra, prepare_spectra
from vitreo.preprocess.frame_groups import FrameGroups
from vitreo.preprocess.motion_model import LocalFit, fit_local_motion
from vitreo.preprocess.movie_frames import DetectorCorrection, MovieFrames, read_movie_frames
from vitreo.preprocess.patches import MIN_PATCHES, PatchGrid, align_patches
from vitreo.preprocess.spectra import movie_spectrum
from vitreo.preprocess.trajectory import smooth_trajectory
from vitreo.preprocess.summation import corrected_sum, frame_dose_weights, output_shape, shifted_spectra

MAX_GLOBAL_SHIFT = 0.25  # largest global shift change per iteration, as a fraction of the smaller frame side
LOCAL_FIT_LIMIT_PX = 10.0  # RELION's fit_rmsd_threshold: a worse polynomial fit disables local correction
SIGNAL_BAND = (0.5, 0.95)  # fractions of Nyquist where the local model must add signal to be used


@dataclass(frozen=True)
class MotionSettings:
    """Parameters of motion correction (RELION's option in brackets).

    Frames are 1-based [first_frame_sum, last_frame_sum ≤ 0: last]; ``bfactor`` in px²
    [bfactor]; ``patches`` (x, y) [patch_x, patch_y]; ``group_frames`` [group_frames];
    ``bin_factor`` [bin_factor]; ``pixel_size`` (Å) of the movie; ``voltage`` (kV);
    ``dose_per_frame`` and ``pre_exposure`` (e/Å²); ``ps_grouping``: frames per group of the
    power spectrum, 0 for none [grouping_for_ps]; ``ps_box`` its size.
    """

    pixel_size: float
    voltage: float
    dose_per_frame: float
    pre_exposure: float = 0.0
    first_frame: int = 1
    last_frame: int = -1
    bfactor: float = 150.0
    patches: tuple[int, int] = (5, 5)
    group_frames: int = 1
    bin_factor: float = 1.0
    dose_weighting: bool = True
    save_no_dw: bool = False
    ps_grouping: int = 0
    ps_box: int = 512
    save_movie: bool = False

    @property
    def do_local(self) -> bool:
        return min(self.patches) >= MIN_PATCHES


@dataclass(frozen=True)
class PatchObservations:
    """Local shifts seen in the patches: centres x, y (px), frame z (0-based, fractional for groups),
    observed (patch offset removed) and fitted shifts (n, 2), patch index (n,)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    observed: np.ndarray
    fitted: np.ndarray
    patch: np.ndarray


@dataclass
class MotionResult:
    """Everything motion correction found and made for one movie (see module docstring)."""

    frames: MovieFrames
    settings: MotionSettings
    groups: FrameGroups
    global_shifts: np.ndarray  # (F, 2) px
    global_rmsd: list[float]
    out_shape: tuple[int, int]
    micrograph: np.ndarray  # dose-weighted sum, or the plain sum without dose weighting
    no_dw: np.ndarray | None = None  # the plain sum when dose-weighted and asked for
    local: LocalFit | None = None  # the fit, when its model is used
    fit: LocalFit | None = None  # the fit, used or not
    observations: PatchObservations | None = None
    patch_grid: PatchGrid | None = None  # tiles on the alignment grid, ``patch_scale`` movie px per pixel
    patch_scale: tuple[float, float] = (1.0, 1.0)
    patch_rmsd: list[float] = field(default_factory=list)
    local_rejected: bool = False
    power_spectrum: np.ndarray | None = None
    ps_pixel_size: float = 0.0
    aligned_movie: np.ndarray | None = None

    @property
    def output_pixel_size(self) -> float:
        return self.settings.pixel_size * self.settings.bin_factor


def correct_movie(path: str | os.PathLike[str], settings: MotionSettings, correction: DetectorCorrection,
                  device: torch.device | str = "cpu") -> MotionResult:
    """Motion-correct one movie (see the module docstring); InputError for a movie that cannot be used."""
    frames = read_movie_frames(path, settings.first_frame, settings.last_frame, correction)
    try:
        groups = FrameGroups.make(len(frames.indices), settings.group_frames)
        out_shape = output_shape(frames.shape, settings.bin_factor)
    except ValueError as err:
        raise InputError(path, str(err)) from None
    shape = frames.shape
    spectra = torch.fft.rfft2(torch.from_numpy(frames.frames).to(device))
    ps, ps_pixel = (None, 0.0)
    if settings.ps_grouping > 0:
        image, ps_pixel = movie_spectrum(spectra, shape, settings.pixel_size, settings.ps_grouping, settings.ps_box)
        ps = image.cpu().numpy()
    grid = alignment_grid(shape, settings.bfactor)
    alignment = align_stack(prepare_spectra(crop_spectra(spectra, shape, grid), grid), shape, grid,
                            settings.bfactor, MAX_GLOBAL_SHIFT * min(shape))
    global_shifts = smooth_trajectory(alignment.shifts.cpu().numpy())
    global_shifts -= global_shifts[0]
    result = MotionResult(frames, settings, groups, global_shifts, alignment.rmsd, out_shape,
                          micrograph=np.zeros(0), power_spectrum=ps, ps_pixel_size=ps_pixel)
    shifts_t = torch.as_tensor(global_shifts, dtype=torch.float32, device=device)
    if settings.do_local:
        _local_alignment(result, crop_spectra(spectra, shape, grid), grid, shifts_t,
                         groups.membership(device).to(spectra.dtype))
    aligned = shifted_spectra(spectra, shifts_t, shape, out_shape)
    del spectra
    if result.local is not None and not _local_model_helps(aligned, shape, out_shape, result.local, settings.bin_factor):
        result.local, result.local_rejected = None, True
    _make_sums(result, aligned, device)
    return result


def _local_model_helps(aligned: torch.Tensor, shape: tuple[int, int], out_shape: tuple[int, int], fit: LocalFit,
                       bin_factor: float) -> bool:
    """Whether the local model adds high-resolution signal to the sum: the signal power of the even-
    and odd-frame half sums (their cross power, in which independent noise cancels) over
    ``SIGNAL_BAND`` of Nyquist, with the model against without it. Resampling blurs as well as
    aligns: a small local motion measured with noise can cost more than it corrects."""
    n = aligned.shape[0]
    if n < 4:
        return True
    halves = [(torch.arange(n, device=aligned.device) % 2 == parity).to(aligned.real.dtype)[:, None, None]
              for parity in (0, 1)]
    k = rfft_radius(out_shape, aligned.device) * 2.0  # fraction of Nyquist
    band = (k >= SIGNAL_BAND[0]) & (k <= SIGNAL_BAND[1])

    def signal(model: PolynomialMotion | None) -> float:
        even, odd = (torch.fft.rfft2(corrected_sum(aligned, shape, out_shape, model, bin_factor, half))
                     for half in halves)
        return float((even * odd.conj()).real[band].sum())

    return signal(fit.model) > signal(None)


def _local_alignment(result: MotionResult, cropped: torch.Tensor, grid: tuple[int, int], shifts: torch.Tensor,
                     member: torch.Tensor) -> None:
    """Align patches of the globally aligned frame groups (spectra cropped to the alignment ``grid``)
    and fit the polynomial model (in place)."""
    settings, shape = result.settings, result.frames.shape
    scale = (shape[0] / grid[0], shape[1] / grid[1])
    to_grid = torch.tensor([1.0 / scale[1], 1.0 / scale[0]], dtype=shifts.dtype, device=shifts.device)
    aligned = cropped * shift_phases(shifts * to_grid, grid)
    group_images = torch.fft.irfft2(torch.einsum("gf,fyx->gyx", member, aligned), s=grid)
    patch_grid = PatchGrid.make(grid, settings.patches)
    alignment = align_patches(group_images, patch_grid, scale, settings.bfactor, settings.pixel_size)
    per_patch = alignment.shifts.cpu().numpy().astype(np.float64)  # (P, G, 2)
    cx, cy = patch_grid.centres(scale)
    n_patches, n_groups = per_patch.shape[:2]
    x, y = np.repeat(cx, n_groups), np.repeat(cy, n_groups)
    z = np.tile(result.groups.centres, n_patches)
    patch = np.repeat(np.arange(n_patches), n_groups)
    fit = fit_local_motion(x, y, z, per_patch.reshape(-1, 2), patch, (shape[1], shape[0]))
    result.patch_grid, result.patch_scale, result.patch_rmsd, result.fit = patch_grid, scale, alignment.rmsd, fit
    result.observations = PatchObservations(x, y, z, fit.observed, fit.fitted, patch)
    if fit.shrinkage > 0 and float(fit.rms.max()) < LOCAL_FIT_LIMIT_PX:
        result.local = fit
    else:
        result.local_rejected = True


def _make_sums(result: MotionResult, aligned: torch.Tensor, device: torch.device | str) -> None:
    """The output micrograph(s) and aligned frames from globally aligned, cropped spectra (in place)."""
    settings, shape, out_shape = result.settings, result.frames.shape, result.out_shape
    weights = None
    if settings.dose_weighting:
        pre = settings.pre_exposure + settings.dose_per_frame * (settings.first_frame - 1)
        weights = frame_dose_weights(out_shape, result.output_pixel_size, aligned.shape[0], settings.dose_per_frame,
                                     settings.voltage, pre, device)
    model = result.local.model if result.local is not None else None
    plain = None
    if settings.save_movie:
        frames = corrected_sum(aligned, shape, out_shape, model, settings.bin_factor, keep_frames=True)
        result.aligned_movie = frames.cpu().numpy()
        plain = frames.sum(0)
        del frames
    elif weights is None or settings.save_no_dw:
        plain = corrected_sum(aligned, shape, out_shape, model, settings.bin_factor)
    weighted = corrected_sum(aligned, shape, out_shape, model, settings.bin_factor, weights) if weights is not None else None
    result.micrograph = (weighted if weighted is not None else plain).cpu().numpy()  # type: ignore[union-attr]
    if weighted is not None and settings.save_no_dw and plain is not None:
        result.no_dw = plain.cpu().numpy()


__all__ = ["MotionSettings", "MotionResult", "PatchObservations", "correct_movie"]
