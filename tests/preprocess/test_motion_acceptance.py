"""Motion correction against ``vitreo simulate`` truth on the ``tiny`` preset (issue 6 acceptance).

- global drift: RMS error per frame ≤ 0.5 px;
- local motion: RMS error of the whole motion field (global + local, on a 9×9 grid, every
  frame) ≤ 1 px;
- signal kept: applied to the noise-free twin of the first movie, the estimated motion keeps
  ≥ 90 % of the power that the true motion keeps, at 12 Å (the 8 Å of the issue lies beyond
  tiny's 9 Å Nyquist; the benchmark measures 8 Å on the tutorial preset). A trajectory of the
  wrong sign fails the same test, so it measures the alignment. (The unaligned sum is no
  control here: in the simulator the ice background follows only the global drift, in
  whole-pixel steps for its transmission, and can dominate a shell.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.preprocess.datasets import TINY_BFACTOR, tiny_clean_movie, tiny_movies
from vitreo.em.fourier import rfft_radius
from vitreo.io.mrc import read_mrc
from vitreo.io.star import read_star
from vitreo.preprocess.motion_correction import MotionResult, MotionSettings, correct_movie
from vitreo.em.motion_polynomial import PolynomialMotion
from vitreo.preprocess.movie_frames import DetectorCorrection
from vitreo.preprocess.summation import motion_corrected_sum
from vitreo.simulate.motion import MotionModel

PIXEL = 4.5


def _truth(index: int) -> MotionModel:
    blocks = read_star(tiny_movies().root / f"truth/motion/mic{index + 1:03d}.star")
    g = blocks["global_shift"]
    shifts = np.stack([g["rlnMicrographShiftX"], g["rlnMicrographShiftY"]], axis=1)
    coefficients = blocks["local_motion_model"]["rlnMotionModelCoeff"] if "local_motion_model" in blocks else np.zeros(36)
    return MotionModel(shifts, np.asarray(coefficients), (512, 512))


@pytest.fixture(scope="module")
def corrected() -> list[MotionResult]:
    settings = MotionSettings(pixel_size=PIXEL, voltage=300.0, dose_per_frame=1.0, bfactor=TINY_BFACTOR)
    return [correct_movie(path, settings, DetectorCorrection()) for path in tiny_movies().micrographs]


def test_global_drift_error_is_below_half_a_pixel(corrected: list[MotionResult]) -> None:
    for index, result in enumerate(corrected):
        error = np.sqrt(np.mean(np.sum((result.global_shifts - _truth(index).global_shifts) ** 2, axis=1)))
        assert error <= 0.5, f"movie {index + 1}: {error:.2f} px"


def test_motion_field_error_is_below_one_pixel(corrected: list[MotionResult]) -> None:
    gx, gy = np.meshgrid(np.linspace(0, 511, 9), np.linspace(0, 511, 9))
    for index, result in enumerate(corrected):
        truth = _truth(index)
        estimate = result.global_shifts[:, None, :]
        if result.local is not None:
            estimate = estimate + result.local.model.shifts(gx.ravel(), gy.ravel(), np.arange(truth.n_frames))
        error = np.sqrt(np.mean(np.sum((estimate - truth.shifts(gx.ravel(), gy.ravel())) ** 2, axis=-1)))
        assert error <= 1.0, f"movie {index + 1}: {error:.2f} px"


def _shell_power(image: torch.Tensor, resolution: float) -> float:
    k = rfft_radius(tuple(image.shape)) / PIXEL
    shell = (k > 1 / resolution - 0.005) & (k < 1 / resolution + 0.005)
    return float(torch.fft.rfft2(image - image.mean()).abs().square()[shell].sum())


def test_corrected_sum_keeps_the_signal_of_a_truly_aligned_sum(corrected: list[MotionResult]) -> None:
    result = corrected[0]
    frames = torch.as_tensor(read_mrc(tiny_clean_movie().micrographs[0])[0])
    truth = _truth(0)
    reference = motion_corrected_sum(frames, torch.as_tensor(truth.global_shifts, dtype=torch.float32),
                                     PolynomialMotion(truth.local_coefficients, truth.size))
    model = result.local.model if result.local is not None else None
    ours = motion_corrected_sum(frames, torch.as_tensor(result.global_shifts, dtype=torch.float32), model)
    kept = _shell_power(ours, 12.0) / _shell_power(reference, 12.0)
    assert kept >= 0.9, f"keeps {kept:.2f} of the power at 12 Å"
    wrong = motion_corrected_sum(frames, torch.as_tensor(-result.global_shifts, dtype=torch.float32), None)
    assert _shell_power(wrong, 12.0) / _shell_power(reference, 12.0) < 0.9  # the test can fail


def test_outputs_have_the_expected_sizes_and_dose_weighted_mean(corrected: list[MotionResult]) -> None:
    result = corrected[0]
    assert result.micrograph.shape == (512, 512)
    assert result.global_shifts.shape == (16, 2) and np.all(result.global_shifts[0] == 0)
    plain_mean = result.frames.frames.sum(0).mean()
    assert result.micrograph.mean() == pytest.approx(plain_mean / 4.0, rel=1e-3)  # RELION: the mean over √F
