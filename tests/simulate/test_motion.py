"""Motion follows RELION's model: global shifts plus ThirdOrderPolynomialModel, smooth and fastest early."""

from __future__ import annotations

import numpy as np
import pytest

from vitreo.simulate.motion import MotionModel, random_motion, static_motion


def relion_get_shift_at(cx: np.ndarray, cy: np.ndarray, z: float, x: float, y: float) -> tuple[float, float]:
    """RELION's ThirdOrderPolynomialModel::getShiftAt, typed in from micrograph_model.cpp."""
    x2, y2, xy, z2 = x * x, y * y, x * y, z * z
    z3 = z2 * z

    def axis(c: np.ndarray) -> float:
        return ((c[0] * z + c[1] * z2 + c[2] * z3) + (c[3] * z + c[4] * z2 + c[5] * z3) * x
                + (c[6] * z + c[7] * z2 + c[8] * z3) * x2 + (c[9] * z + c[10] * z2 + c[11] * z3) * y
                + (c[12] * z + c[13] * z2 + c[14] * z3) * y2 + (c[15] * z + c[16] * z2 + c[17] * z3) * xy)

    return axis(cx), axis(cy)


def test_local_shifts_match_relion_polynomial() -> None:
    rng = np.random.default_rng(4)
    coefficients = rng.normal(size=36)
    size = (3710, 3838)
    model = MotionModel(np.zeros((24, 2)), coefficients, size)
    x, y = rng.uniform(0, size[0], 5), rng.uniform(0, size[1], 5)
    ours = model.local_shifts(x, y)
    for frame in (0, 7, 23):
        for i in range(5):
            xn, yn = x[i] / size[0] - 0.5, y[i] / size[1] - 0.5
            expected = relion_get_shift_at(coefficients[:18], coefficients[18:], frame, xn, yn)
            assert ours[frame, i] == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_random_motion_is_smooth_fast_early_and_scaled() -> None:
    size = (2048, 2048)
    for seed in range(5):
        model = random_motion(np.random.default_rng(seed), 16, size, drift_px=5.0, local_px=1.0)
        shifts = model.global_shifts
        assert np.all(shifts[0] == 0.0)
        steps = np.linalg.norm(np.diff(shifts, axis=0), axis=1)
        assert steps[:4].mean() > steps[-4:].mean()  # fastest in the first frames
        assert 2.5 <= model.accumulated_motion() <= 7.5  # a drift path of drift_px · (0.5 … 1.5)
        grid = np.linspace(0, 2048, 9)
        gx, gy = np.meshgrid(grid, grid)
        local = model.local_shifts(gx.ravel(), gy.ravel())
        assert np.abs(local[0]).max() == 0.0
        assert np.linalg.norm(local[-1], axis=-1).max() == pytest.approx(1.0, rel=1e-6)
        # positions are reference positions minus the RELION shift
        x, y = gx.ravel(), gy.ravel()
        assert np.allclose(model.positions(x, y), np.stack([x, y], -1) - model.shifts(x, y))


def test_static_motion_is_zero() -> None:
    model = static_motion(16, (512, 512))
    assert not model.shifts(np.array([10.0]), np.array([20.0])).any()
    assert model.accumulated_motion() == 0.0
