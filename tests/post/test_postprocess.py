"""Post-processing against analytic truth: FSC and resolution for a known spectral SNR, the masked-FSC
correction, the automatic B-factor of a map blurred by B = 200 Å², hard masks flagged, MTF division."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.post.synthetic import expected_fsc, gaussian_snr, noisy_halves, pseudo_atomic_map
from vitreo.em.fourier import shell_index
from vitreo.em.fsc import first_shell_below
from vitreo.em.masks import soft_spherical_mask, threshold_mask
from vitreo.post.postprocess import PostProcessSettings, has_hard_edge, postprocess
from vitreo.post.sharpening import fit_guinier, guinier_curve, mtf_response, normalised_rfft

BOX, PIXEL, B_TRUE = 64, 1.5, 200.0


@pytest.fixture(scope="module")
def truth() -> torch.Tensor:
    return pseudo_atomic_map(BOX, PIXEL, 18, B_TRUE)


@pytest.fixture(scope="module")
def soft_mask() -> torch.Tensor:
    return soft_spherical_mask((BOX,) * 3, 21, 6)


@pytest.fixture(scope="module")
def halves(truth) -> tuple[torch.Tensor, torch.Tensor]:
    """Half-maps whose FSC crosses 0.143 at 4 Å."""
    return noisy_halves(truth, PIXEL, gaussian_snr(50, 4.0))


@pytest.fixture(scope="module")
def result(halves, soft_mask):
    return postprocess(*halves, soft_mask, PIXEL)


def _shell_before_drop(curve) -> int:
    return first_shell_below(torch.as_tensor(curve), 0.143) - 1


def test_fsc_and_resolution_follow_the_spectral_snr(soft_mask, result) -> None:
    snr = gaussian_snr(50, 4.0)
    expected = expected_fsc(snr, BOX, PIXEL).numpy()
    assert np.abs(result.fsc_unmasked - expected)[1:].max() < 0.08
    assert abs(_shell_before_drop(result.fsc_unmasked) - _shell_before_drop(expected)) <= 1
    # the mask keeps all the signal and a fraction mean(m²) of the noise power: SNR / mean(m²) after correction
    mean_square = float(soft_mask.square().mean())
    masked_expected = expected_fsc(lambda s: snr(s) / mean_square, BOX, PIXEL)
    assert abs(_shell_before_drop(result.fsc_corrected) - _shell_before_drop(masked_expected)) <= 1
    assert result.resolution == pytest.approx(BOX * PIXEL / _shell_before_drop(result.fsc_corrected))
    assert result.warnings == []


def test_phase_randomised_fsc_vanishes_beyond_the_randomisation_shell(result) -> None:
    start = result.randomise_from_shell
    assert result.fsc_unmasked[start] < 0.8 <= result.fsc_unmasked[start - 1]
    # well below the randomisation the phases are intact (the mask leaks randomised shells only nearby)
    np.testing.assert_allclose(result.fsc_random_masked[:start - 3], result.fsc_masked[:start - 3], atol=2e-3)
    beyond = result.fsc_random_masked[start + 2:]
    assert np.abs(beyond).mean() < 0.03 and np.abs(beyond).max() < 0.1
    np.testing.assert_array_equal(result.fsc_corrected[:start + 2], result.fsc_masked[:start + 2])


@pytest.mark.parametrize("resolution", [4.0, 5.5])
def test_automatic_bfactor_recovers_the_blur(truth, soft_mask, result, resolution) -> None:
    if resolution != 4.0:
        result = postprocess(*noisy_halves(truth, PIXEL, gaussian_snr(50, resolution)), soft_mask, PIXEL)
    assert result.fit is not None and result.fit.correlation < -0.95
    assert result.bfactor == pytest.approx(-B_TRUE, rel=0.2)
    assert BOX * PIXEL / result.fit.first_shell <= 10.0 and BOX * PIXEL / result.fit.last_shell >= result.resolution
    # sharpening flattens the Guinier plot of the masked map between 10 Å and the resolution
    sharpened = guinier_curve(normalised_rfft(result.sharpened * soft_mask), (BOX,) * 3, PIXEL)
    flat = fit_guinier(*sharpened, PIXEL, BOX, 10.0, result.resolution + 1.0)
    assert abs(flat.bfactor) < 0.2 * B_TRUE


def test_user_bfactor_and_skipped_weighting(halves, soft_mask) -> None:
    result = postprocess(*halves, soft_mask, PIXEL, PostProcessSettings(
        auto_bfactor=False, adhoc_bfactor=-150, fsc_weighting=False, low_pass=6.0))
    assert result.bfactor == -150 and result.fit is None and result.filter_resolution == 6.0
    assert set(result.guinier) == {"rlnResolutionSquared", "rlnLogAmplitudesOriginal", "rlnLogAmplitudesSharpened"}
    gain = result.guinier["rlnLogAmplitudesSharpened"] - result.guinier["rlnLogAmplitudesOriginal"]
    np.testing.assert_allclose(gain[1:20], 150 / 4 * result.guinier["rlnResolutionSquared"][1:20], atol=0.01)
    spectrum = torch.fft.rfftn(result.sharpened).abs()
    beyond = shell_index((BOX,) * 3) > round(BOX * PIXEL / 6.0) + 1
    assert float(spectrum[beyond].max()) < 1e-3 * float(spectrum.max())


def test_hard_edged_mask_is_flagged(truth, halves, soft_mask) -> None:
    hard = threshold_mask(truth, 0.1 * float(truth.max()))
    assert has_hard_edge(hard) and not has_hard_edge(soft_mask)
    result = postprocess(*halves, hard, PIXEL)
    assert any("hard edge" in warning for warning in result.warnings)
    # RELION's own check: the phase-randomised masked FSC is still high at the resolution it reports
    assert any("phase-randomised FSC is" in warning for warning in result.warnings)


def test_mtf_response_interpolates_the_curve_within_nyquist() -> None:
    curve = (np.array([0.0, 0.25, 0.5]), np.array([1.0, 0.6, 0.2]))
    response = mtf_response(curve, (16, 16, 16), pixel_size=2.0, mtf_pixel_size=1.0)
    assert float(response[0, 0, 0]) == pytest.approx(1.0)
    # k = 4/16 cycles per map pixel = 0.125 cycles per detector pixel (detector pixel half the map's)
    assert float(response[0, 0, 4]) == pytest.approx(0.8)
    assert float(response[8, 8, 8]) == 1.0  # a corner beyond Nyquist is left alone, as RELION does


def test_mtf_division_undoes_a_detector_mtf(truth, soft_mask) -> None:
    curve = (np.array([0.0, 0.5, 1.0]), np.array([1.0, 0.2, 0.1]))
    blurred = torch.fft.irfftn(torch.fft.rfftn(truth) * mtf_response(curve, (BOX,) * 3, PIXEL, PIXEL), s=(BOX,) * 3)
    halves = noisy_halves(blurred, PIXEL, gaussian_snr(50, 4.0))
    plain = postprocess(*halves, soft_mask, PIXEL)
    corrected = postprocess(*halves, soft_mask, PIXEL, PostProcessSettings(mtf=curve, mtf_pixel_size=PIXEL))
    assert corrected.bfactor - plain.bfactor > 30  # the MTF (×0.2 at Nyquist) adds to the fall-off
    assert corrected.bfactor == pytest.approx(-B_TRUE, rel=0.2)
    assert "rlnLogAmplitudesMTFCorrected" in corrected.guinier
