"""Post-processing of two half-maps as relion_postprocess: masked, phase-randomisation-corrected
gold-standard FSC, resolution at 0.143, MTF correction, FSC weighting, B-factor sharpening, low-pass.

Steps (RELION 2.1–5): FSC of the unmasked and of the masked half-maps; phases randomised beyond
the first shell where the unmasked FSC drops below 0.8, FSC of the masked randomised maps, and
the corrected FSC (:func:`vitreo.em.fsc.corrected_fsc`). The final resolution is that of the
last shell before the corrected FSC first drops below 0.143. The average of the half-maps is
divided by the MTF, weighted by √(2·FSC/(1+FSC)) (unless skipped), sharpened with a B-factor
(fitted to the Guinier plot between ``autob_lowres`` and the final resolution, or given) and
low-pass filtered at the final resolution (or a given one; raised-cosine edge of 2 shells).

Unlike RELION, the Guinier plot and the B-factor fit use the masked average: its noise is that
of the masked FSC used for the weighting, so weighting restores the signal's own fall-off. With
the unmasked map, as RELION does, solvent noise flattens the plot (on a map blurred by B = 200 Å²
with half-map noise for 4 Å, RELION's procedure finds −165 Å², the masked one −206 Å²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from vitreo.em.filters import bfactor_response, lowpass_response
from vitreo.em.fsc import corrected_fsc, first_shell_below, fsc, phase_randomise, resolution_at
from vitreo.post.sharpening import (
    GuinierFit,
    fit_guinier,
    fsc_weights,
    guinier_curve,
    lowpass_shells,
    mtf_response,
    normalised_rfft,
    resolution_label,
    shell_response,
)

FSC_THRESHOLD = 0.143
RANDOMISE_BELOW = 0.8
#: RELION warns when the phase-randomised masked FSC exceeds this at the final resolution.
MAX_RANDOM_FSC = 0.1


@dataclass(frozen=True)
class PostProcessSettings:
    """Options of relion_postprocess (resolutions in Å, B-factors in Å²).

    ``auto_bfactor``: fit the B-factor from ``autob_lowres`` to ``autob_highres`` (≤ 0: the final
    resolution); otherwise ``adhoc_bfactor`` is applied (0: none). ``mtf``: (frequencies in
    cycles per detector pixel, values) with ``mtf_pixel_size`` the detector's pixel size.
    ``low_pass`` > 0 replaces the final resolution as the filter; ``fsc_weighting`` False skips
    the FSC weighting. ``force_mask`` keeps the masked FSC even when the unmasked one extends
    further (RELION's --force_mask).
    """

    auto_bfactor: bool = True
    autob_lowres: float = 10.0
    autob_highres: float = 0.0
    adhoc_bfactor: float = 0.0
    mtf: tuple[np.ndarray, np.ndarray] | None = None
    mtf_pixel_size: float = -1.0
    fsc_weighting: bool = True
    low_pass: float = 0.0
    force_mask: bool = False
    seed: int = 0


@dataclass
class PostProcessResult:
    """Everything relion_postprocess reports; FSC curves per shell 0 … N//2 (float64 numpy), maps on the CPU."""

    pixel_size: float
    box: int
    fsc_unmasked: np.ndarray
    fsc_masked: np.ndarray
    fsc_random_masked: np.ndarray
    fsc_corrected: np.ndarray
    randomise_from_shell: int
    resolution: float
    bfactor: float
    filter_resolution: float
    guinier: dict[str, np.ndarray]
    fit: GuinierFit | None
    sharpened: torch.Tensor
    masked: torch.Tensor
    warnings: list[str] = field(default_factory=list)

    @property
    def randomise_from(self) -> float:
        """Resolution (Å) from which phases were randomised (RELION's rlnRandomiseFrom)."""
        return self.box * self.pixel_size / self.randomise_from_shell


def postprocess(
    half1: torch.Tensor, half2: torch.Tensor, mask: torch.Tensor, pixel_size: float,
    settings: PostProcessSettings = PostProcessSettings(),
) -> PostProcessResult:
    """Post-process two (N, N, N) half-maps with a mask in [0, 1] (see the module docstring)."""
    box = half1.shape[-1]
    warnings: list[str] = []
    if has_hard_edge(mask):
        warnings.append("the mask has a hard edge (hardly any values between 0 and 1): sharp mask edges inflate the "
                        "FSC of the masked maps; add a soft edge of 5-10 pixels (MaskCreate's width_mask_edge)")
    unmasked = fsc(half1, half2).double()
    masked = fsc(half1 * mask, half2 * mask).double()
    randomise_at = first_shell_below(unmasked, RANDOMISE_BELOW)
    if randomise_at >= unmasked.shape[-1]:
        warnings.append("the unmasked FSC never drops below 0.8: phases were not randomised, the masked FSC is used")
        random_masked = torch.zeros_like(masked)
    else:
        generator = torch.Generator(device=half1.device).manual_seed(settings.seed)
        random1 = phase_randomise(half1, randomise_at, generator) * mask
        random2 = phase_randomise(half2, randomise_at, generator) * mask
        random_masked = fsc(random1, random2).double()
    for curve in (masked, random_masked):
        if curve[0] <= 0:  # RELION: the FSC at the origin may come out as −1 after masking
            curve[0] = 1.0
    corrected = corrected_fsc(masked, random_masked, randomise_at)
    resolution = resolution_at(corrected, FSC_THRESHOLD, pixel_size, box, interpolate=False)
    unmasked_resolution = resolution_at(unmasked, FSC_THRESHOLD, pixel_size, box, interpolate=False)
    if unmasked_resolution < resolution:
        message = (f"the unmasked FSC ({resolution_label(unmasked_resolution)}) extends beyond the "
                   f"solvent-corrected FSC ({resolution_label(resolution)}).")
        if settings.force_mask:
            warnings.append(message)
        else:
            warnings.append(message + " Masking is skipped: you may want to adjust your mask")
            corrected, resolution = unmasked.clone(), unmasked_resolution
    else:
        at = _shell_of(resolution, pixel_size, box)
        if random_masked[at] > MAX_RANDOM_FSC:
            warnings.append(
                f"the phase-randomised FSC is {float(random_masked[at]):.2f} (> {MAX_RANDOM_FSC}) at the estimated "
                "resolution: this may give an incorrect resolution estimate. Provide a softer mask with less "
                "features to get lower phase-randomised FSCs")
    sharpened, guinier, fit, bfactor, filter_resolution = _sharpen(
        0.5 * (half1 + half2), mask, corrected, resolution, pixel_size, settings, warnings)
    return PostProcessResult(
        pixel_size, box, *(curve.cpu().numpy() for curve in (unmasked, masked, random_masked, corrected)),
        randomise_at, resolution, bfactor, filter_resolution, guinier, fit, sharpened.cpu(), (sharpened * mask).cpu(),
        warnings)


def has_hard_edge(mask: torch.Tensor) -> bool:
    """True when fewer than 1% as many voxels lie strictly between 0.01 and 0.99 as lie at or above 0.5.

    A raised-cosine edge of even one pixel puts about a tenth of a compact mask's voxels in its edge.
    """
    soft = int(((mask > 0.01) & (mask < 0.99)).sum())
    return soft < 0.01 * int((mask >= 0.5).sum())


def _shell_of(resolution: float, pixel_size: float, box: int) -> int:
    return 0 if math.isinf(resolution) else int(round(box * pixel_size / resolution))


def _sharpen(
    average: torch.Tensor, mask: torch.Tensor, fsc_true: torch.Tensor, resolution: float, pixel_size: float,
    settings: PostProcessSettings, warnings: list[str],
) -> tuple[torch.Tensor, dict[str, np.ndarray], GuinierFit | None, float, float]:
    """MTF division, FSC weighting, B-factor and low-pass of the averaged map, with the Guinier curves.

    The Guinier curves (and the B-factor fit) are those of the masked average, whose noise matches
    the masked, corrected FSC used for the weighting; RELION uses the unmasked map, whose solvent
    noise flattens the curve and biases the B-factor towards zero (see the module docstring).
    """
    shape = tuple(average.shape)
    box = shape[-1]
    transforms = normalised_rfft(torch.stack([average, average * mask]))  # (2, *rfft): map, masked map

    def curve() -> np.ndarray:
        return guinier_curve(transforms[1], shape, pixel_size)[1]

    s2, original = guinier_curve(transforms[1], shape, pixel_size)
    guinier = {"rlnResolutionSquared": s2, "rlnLogAmplitudesOriginal": original}
    if settings.mtf is not None:
        mtf_pixel = settings.mtf_pixel_size if settings.mtf_pixel_size > 0 else pixel_size
        transforms = transforms / mtf_response(settings.mtf, shape, pixel_size, mtf_pixel, average.device)
        guinier["rlnLogAmplitudesMTFCorrected"] = curve()
    if settings.fsc_weighting:
        transforms = transforms * shell_response(fsc_weights(fsc_true).to(average.dtype), shape)
        guinier["rlnLogAmplitudesWeighted"] = curve()
    fit = None
    bfactor = 0.0
    if settings.auto_bfactor:
        high = settings.autob_highres if settings.autob_highres > 0 else resolution
        fit = fit_guinier(s2, list(guinier.values())[-1], pixel_size, box, settings.autob_lowres, high)
        bfactor = fit.bfactor
    elif settings.adhoc_bfactor != 0:
        bfactor = settings.adhoc_bfactor
        if bfactor > 0:
            warnings.append("using a positive B-factor: this dampens your map; use a negative value to sharpen it")
    if bfactor != 0:
        transforms = transforms * bfactor_response(shape, bfactor, pixel_size, average.device, average.dtype)
        guinier["rlnLogAmplitudesSharpened"] = curve()
    if fit is not None:
        guinier["rlnLogAmplitudesIntercept"] = np.full_like(s2, fit.intercept)
    filter_resolution = settings.low_pass if settings.low_pass > 0 else resolution
    transform = transforms[0]
    if math.isfinite(filter_resolution):
        cutoff = float(lowpass_shells(filter_resolution, pixel_size, box))
        transform = transform * lowpass_response(shape, box * pixel_size / max(cutoff, 1e-3), pixel_size, 2.0,
                                                 average.device, average.dtype)
    sharpened = torch.fft.irfftn(transform * average.numel(), s=shape)
    return sharpened, guinier, fit, bfactor, filter_resolution


__all__ = ["FSC_THRESHOLD", "RANDOMISE_BELOW", "MAX_RANDOM_FSC", "PostProcessSettings", "PostProcessResult",
           "postprocess", "has_hard_edge"]
