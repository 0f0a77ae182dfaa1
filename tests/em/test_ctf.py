"""CTF model: RELION's formula, sign, zeros, astigmatism axis and options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vitreo.em.ctf import (
    CtfParams,
    ctf_1d,
    ctf_2d,
    ctf_weights,
    ctf_zeros,
    electron_wavelength,
    first_peak_frequency,
)


def relion_ctf_numpy(
    n: int,
    angpix: float,
    du: float,
    dv: float,
    angle_deg: float,
    kv: float,
    cs_mm: float,
    q: float,
    phase_deg: float = 0.0,
    bfac: float = 0.0,
    scale: float = 1.0,
) -> np.ndarray:
    """RELION's CTF::getFftwImage written out independently (its own constants and sign)."""
    volts = kv * 1e3
    lam = 12.2643247 / np.sqrt(volts * (1.0 + volts * 0.978466e-6))
    k1 = np.pi * lam
    k2 = np.pi / 2 * cs_mm * 1e7 * lam**3
    k3 = np.arctan(q / np.sqrt(1 - q * q))
    k5 = np.deg2rad(phase_deg)
    avg, dev = -(du + dv) / 2, -(du - dv) / 2
    ky = np.fft.fftfreq(n)[:, None] * n / (n * angpix)
    kx = np.arange(n // 2 + 1)[None, :] / (n * angpix)
    u2 = kx**2 + ky**2
    deltaf = avg + dev * np.cos(2 * (np.arctan2(ky, kx) - np.deg2rad(angle_deg)))
    argument = k1 * deltaf * u2 + k2 * u2 * u2 - k5 - k3
    return scale * -np.sin(argument) * np.exp(-bfac / 4 * u2)


def params(**overrides) -> CtfParams:
    values = dict(
        defocus_u=21000.0,
        defocus_v=19000.0,
        defocus_angle=30.0,
        voltage=300.0,
        cs=2.7,
        amplitude_contrast=0.1,
        dtype=torch.float64,
    )
    values.update(overrides)
    return CtfParams.from_values(**values)


def test_wavelength_is_relativistic():
    assert electron_wavelength(300.0) == pytest.approx(0.019687, abs=1e-6)
    assert electron_wavelength(200.0) == pytest.approx(0.025079, abs=1e-6)
    assert float(electron_wavelength(torch.tensor(300.0))) == pytest.approx(0.019687, abs=1e-6)


@pytest.mark.parametrize(
    "du,dv,angle,kv,cs,q,phase,bfac,scale",
    [(21000, 19000, 30, 300, 2.7, 0.1, 0, 0, 1), (8000, 12000, -75, 200, 0.01, 0.07, 90, 50, 0.8)],
)
def test_matches_relion_formula(du, dv, angle, kv, cs, q, phase, bfac, scale):
    p = CtfParams.from_values(
        defocus_u=du,
        defocus_v=dv,
        defocus_angle=angle,
        voltage=kv,
        cs=cs,
        amplitude_contrast=q,
        phase_shift=phase,
        bfactor=bfac,
        scale=scale,
        dtype=torch.float64,
    )
    expected = relion_ctf_numpy(96, 1.3, du, dv, angle, kv, cs, q, phase, bfac, scale)
    np.testing.assert_allclose(ctf_2d(p, 96, 1.3)[0].numpy(), expected, atol=1e-9)


def test_positive_at_low_frequency():
    p = params()
    profile = ctf_1d(p, torch.tensor([0.0, 1 / 500, 1 / 200]))[0]
    assert profile[0] == pytest.approx(0.1, abs=1e-12)  # sin(atan(Q/√(1−Q²))) = Q
    assert bool((profile > 0).all())
    assert ctf_2d(p, 64, 1.0)[0, 0, 0] == pytest.approx(0.1, abs=1e-12)


def test_zeros_are_zeros_with_sign_changes_between():
    p = params(defocus_u=15000.0, defocus_v=15000.0, cs=2.7)
    zeros = ctf_zeros(p, 12)[0]
    assert bool(torch.isfinite(zeros).all()) and bool((zeros.diff() > 0).all())
    assert ctf_1d(p, zeros)[0].abs().max() < 1e-9
    mid = ctf_1d(p, 0.5 * (zeros[1:] + zeros[:-1]))[0]
    assert bool((mid[1:] * mid[:-1] < 0).all())  # alternating sign between consecutive zeros
    before_first = ctf_1d(p, zeros[:1] * 0.5)[0]
    assert before_first > 0
    # the count of sign changes on a dense grid equals the number of analytic zeros below s_max
    s = torch.linspace(0, float(zeros[-1]) * 0.999, 20001, dtype=torch.float64)
    changes = (ctf_1d(p, s)[0].sign().diff() != 0).sum()
    assert int(changes) == 11


def test_zeros_include_spherical_aberration():
    no_cs, cs = params(cs=0.0, defocus_u=8000.0, defocus_v=8000.0), params(cs=2.7, defocus_u=8000.0, defocus_v=8000.0)
    without, with_cs = ctf_zeros(no_cs, 25)[0], ctf_zeros(cs, 25)[0]
    # Cs lowers χ at high frequency, pushing zeros outwards; the first zero hardly moves
    assert float(with_cs[-1]) > float(without[-1]) * 1.05
    assert float(with_cs[0]) == pytest.approx(float(without[0]), rel=1e-2)
    assert ctf_1d(cs, with_cs)[0].abs().max() < 1e-9
    assert ctf_1d(cs, without[-1:])[0].abs().max() > 0.5


def test_defocus_u_lies_along_the_angle():
    # angle 0: the kx axis (ky = 0 row) sees defocus U, the ky axis sees V
    p = params(defocus_u=25000.0, defocus_v=15000.0, defocus_angle=0.0)
    grid = ctf_2d(p, 128, 1.0)[0]
    s = torch.arange(65, dtype=torch.float64) / 128.0
    along_u = ctf_1d(params(defocus_u=25000.0, defocus_v=25000.0), s)[0]
    along_v = ctf_1d(params(defocus_u=15000.0, defocus_v=15000.0), s)[0]
    torch.testing.assert_close(grid[0, :], along_u)
    torch.testing.assert_close(grid[:65, 0], along_v)


def test_astigmatism_rotates_with_the_angle():
    base, theta = 20.0, 35.0
    rotated = ctf_2d(params(defocus_angle=base + theta), 64, 1.2)[0]
    freqs = (
        torch.stack(
            torch.meshgrid(
                torch.fft.fftfreq(64, dtype=torch.float64), torch.fft.rfftfreq(64, dtype=torch.float64), indexing="ij"
            ),
            -1,
        )
        / 1.2
    )
    s = freqs.norm(dim=-1)
    alpha = torch.atan2(freqs[..., 0], freqs[..., 1])
    # value at k with angle base+θ equals the value at k rotated by −θ with angle base
    for iy, ix in [(3, 5), (10, 2), (60, 17), (20, 30)]:
        azimuth = math.degrees(float(alpha[iy, ix])) - theta
        reference = ctf_1d(params(defocus_angle=base), s[iy, ix].reshape(1), azimuth_deg=azimuth)[0, 0]
        assert float(rotated[iy, ix]) == pytest.approx(float(reference), abs=1e-12)
    # and not the same as the unrotated CTF
    assert (rotated - ctf_2d(params(defocus_angle=base), 64, 1.2)[0]).abs().max() > 0.1


def test_phase_shift_of_90_degrees():
    q = 0.1
    plate = params(phase_shift=90.0)
    assert float(ctf_1d(plate, torch.zeros(1, dtype=torch.float64))[0, 0]) == pytest.approx(math.sqrt(1 - q * q))
    assert float(ctf_zeros(plate, 1)[0, 0]) < 0.75 * float(ctf_zeros(params(), 1)[0, 0])
    # with χ(0) > π/2 the first zero solves χ = π (not 0), and the CTF is zero there
    zero = ctf_zeros(plate, 1)[0]
    assert ctf_1d(plate, zero)[0].abs().max() < 1e-9


def test_phase_flip_and_absolute():
    p = params(bfactor=100.0, scale=0.9)
    ctf = ctf_2d(p, 64, 1.0)
    flipped = ctf_2d(p, 64, 1.0, phase_flip=True)
    assert set(torch.unique(flipped).tolist()) <= {-0.9, 0.9}
    assert bool((torch.sign(flipped) == torch.where(ctf < 0, -1.0, 1.0)).all())
    torch.testing.assert_close(ctf_2d(p, 64, 1.0, absolute=True), ctf.abs())
    undamped = ctf_2d(p, 64, 1.0, damping=False)
    assert bool((undamped.abs() >= ctf.abs() - 1e-12).all())


def test_ignore_until_first_peak():
    p = params(bfactor=40.0)
    peak = float(first_peak_frequency(p)[0])
    s = torch.linspace(0, 3 * peak, 301, dtype=torch.float64)
    normal = ctf_1d(p, s)[0]
    intact = ctf_1d(p, s, ignore_until_first_peak=True)[0]
    envelope = torch.exp(-40.0 * s**2 / 4)
    inside = s < peak * 0.999
    torch.testing.assert_close(intact[inside], envelope[inside])
    torch.testing.assert_close(intact[s > peak * 1.001], normal[s > peak * 1.001])
    assert float(ctf_1d(p, torch.tensor([peak], dtype=torch.float64), damping=False)[0, 0]) == pytest.approx(1.0)


def test_batch_device_and_dtype():
    p = CtfParams.from_values(defocus_u=[10000, 15000, 20000], voltage=300, cs=2.7, amplitude_contrast=0.1)
    out = ctf_2d(p, 32, 1.5)
    assert out.shape == (3, 32, 17) and out.dtype == torch.float32
    torch.testing.assert_close(out[1], ctf_2d(p[1], 32, 1.5)[0])
    assert ctf_2d(p.to(dtype=torch.float64), 32, 1.5).dtype == torch.float64
    assert len(p[torch.tensor([True, False, True])]) == 2


def test_from_columns():
    cols = {
        "_rlnDefocusU": np.array([12000.0, 13000.0]),
        "rlnDefocusAngle": [10.0, 20.0],
        "rlnVoltage": 300.0,
        "rlnSphericalAberration": 2.7,
        "rlnAmplitudeContrast": 0.1,
        "rlnCtfBfactor": 0.0,
    }
    p = CtfParams.from_columns(cols, dtype=torch.float64)
    assert len(p) == 2
    torch.testing.assert_close(p.defocus_v, p.defocus_u)
    assert p.voltage.tolist() == [300.0, 300.0] and p.scale.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="rlnVoltage"):
        CtfParams.from_columns({k: v for k, v in cols.items() if k != "rlnVoltage"})
    with pytest.raises(ValueError, match="amplitude contrast"):
        CtfParams.from_values(defocus_u=1e4, voltage=300, cs=2.7, amplitude_contrast=1.0)


def test_weights_for_premultiplied_data():
    ctf = ctf_2d(params(), 32, 1.0)
    plain = ctf_weights(ctf)
    torch.testing.assert_close(plain.model, ctf)
    torch.testing.assert_close(plain.weight, ctf**2)
    pre = ctf_weights(ctf, premultiplied=True)
    assert pre.data is None
    torch.testing.assert_close(pre.model, ctf**2)
    torch.testing.assert_close(pre.weight, ctf**2)
