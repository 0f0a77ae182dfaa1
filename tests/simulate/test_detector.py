"""Detector MTF curves, count types."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vitreo.io.errors import InputError
from vitreo.simulate import preset
from vitreo.io.mtf import mtf_file, read_mtf, shipped_mtf_names
from vitreo.simulate.detector import count_dtype, mtf_response


def test_shipped_mtf_curves_read() -> None:
    names = shipped_mtf_names()
    assert {"falcon2_300kV", "k2_300kV", "k3_standard_300kV_FL2", "falcon4EC_300kV"} <= set(names)
    for name in names:
        frequencies, values = read_mtf(mtf_file(name))
        assert frequencies[0] == 0 and 0.49 <= frequencies[-1] <= 0.51
        assert values[0] == pytest.approx(1.0, abs=1e-3) and values[-1] < values[0]
    assert mtf_file("none") is None
    with pytest.raises(InputError, match="shipped"):
        mtf_file("no_such_detector")


def test_mtf_response_uses_the_detector_pixel() -> None:
    curve = (np.array([0.0, 0.25, 0.5]), np.array([1.0, 0.6, 0.2]))
    binned = mtf_response(curve, 64, 2.0, 1.0)  # movie pixels are 2 × 2 detector pixels
    native = mtf_response(curve, 64, 1.0, 1.0)
    assert float(binned[0, 0]) == 1.0
    assert float(binned[0, 32]) == pytest.approx(0.6)  # movie Nyquist = 0.25 cycles per detector pixel
    assert float(native[0, 32]) == pytest.approx(0.2)
    assert torch.all(binned >= native - 1e-6)


def test_count_types() -> None:
    tutorial = preset("tutorial")  # 12.5 e per pixel and frame
    assert count_dtype(tutorial) == np.int8
    assert count_dtype(tutorial.replace(hot_pixels=3)) == np.int16
    assert count_dtype(tutorial.replace(tiff=True, hot_pixels=3)) == np.uint8
    assert count_dtype(tutorial.replace(dose_per_frame=20.0, tiff=True)) == np.uint16
    assert count_dtype(tutorial.replace(micrographs_only=True)) == np.float32
    assert count_dtype(tutorial.replace(shot_noise=False)) == np.float32
