"""The real power spectrum of the RELION 5 betagal tutorial (movie 20170629_00021, written by RELION's
motion correction at 1.3996 Å/px; 200 kV, Cs 1.4 mm, Q 0.1).

Its Thon rings are clearly visible from about 14 to 6 Å: the zeros of the fitted CTF must sit on
the minima of the astigmatism-corrected (equi-phase) average. The official tutorial values for this
movie (CTFFIND on the RELION 3.1 tutorial's own motion correction: U 10864, V 10576 Å, angle 78°)
are a second check; the CTFFIND log in the shared data (about 37,000 Å) is a known bad fit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vitreo.io.mrc import read_mrc
from vitreo.preprocess.ctf_estimation import CtfEstimate, CtfSettings, estimate_ctf
from vitreo.preprocess.ctf_model import CtfFitParams, Optics, fit_params
from vitreo.em.ctf import ctf_zeros

SPECTRUM = "images/relion5_betagal_sppractice/MotionCorr/job002/Movies/20170629_00021_frameImage_PS.mrc"
OPTICS = Optics(200.0, 1.4, 0.1)


@pytest.fixture(scope="module")
def fit(shared_data) -> CtfEstimate:  # type: ignore[no-untyped-def]
    image, pixel = read_mrc(shared_data / SPECTRUM)
    assert pixel == pytest.approx(1.3996, abs=1e-4)
    return estimate_ctf(torch.as_tensor(image), pixel, CtfSettings(OPTICS, res_min=30.0, res_max=5.0))


def test_model_zeros_sit_on_the_thon_ring_minima(fit: CtfEstimate) -> None:
    mean = fit.params.mean_defocus
    zeros = ctf_zeros(fit_params(CtfFitParams(mean, mean, 0.0), OPTICS), 8)[0].numpy()
    radii = zeros * 512 * fit.pixel_size  # Fourier pixels of the 512² spectrum
    profile = np.convolve(fit.equiphase, np.ones(3) / 3, mode="same")  # 3-bin average against pixel noise
    for radius in radii[(radii > 35) & (radii < 120)]:
        r = int(round(radius))
        window = np.arange(r - 4, r + 5)
        minimum = window[np.argmin(profile[window])]
        assert abs(minimum - radius) <= 1.5, f"zero at {radius:.1f} px, minimum at {minimum} px"


def test_defocus_agrees_with_the_official_tutorial_values(fit: CtfEstimate) -> None:
    assert fit.params.mean_defocus == pytest.approx(0.5 * (10864 + 10576), abs=300)
    assert fit.params.astigmatism < 800
    assert fit.score > 0.3 and fit.fit_resolution < 8.0
