"""The contrast transfer function in RELION's (= CTFFIND4's) convention.

For spatial frequency s (1/Å) at azimuth α (radians, from the +x axis towards +y):

    Δf(α) = (U + V)/2 + (U − V)/2 · cos(2(α − angle))
    χ(s, α) = π λ Δf s² − (π/2) Cs λ³ s⁴ + phase_shift + atan(Q / √(1 − Q²))
    CTF = scale · exp(−B s²/4) · sin(χ)

with U, V in Å (positive = underfocus), Cs in Å, λ in Å (relativistic). This CTF is positive
at low frequency (CTF(0) = Q · scale), matching contrast-inverted (white) particles. It equals
RELION's ``CTF::getCTF`` (which writes it as −sin(−χ) with a negated defocus), including its
options: phase flipping, |CTF|, ignoring the CTF until its first peak, and damping on/off.
Not modelled: anisotropic magnification, beam tilt and higher-order (Zernike) aberrations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import torch

from vitreo.em.fourier import rfft_frequencies

Scalar = float | int | torch.Tensor

# RELION label -> CtfParams field, for the columns that must be present.
_REQUIRED_LABELS = {
    "rlnDefocusU": "defocus_u",
    "rlnVoltage": "voltage",
    "rlnSphericalAberration": "cs",
    "rlnAmplitudeContrast": "amplitude_contrast",
}
# Optional columns and the field they fill (defaults as RELION's CTF::read).
_OPTIONAL_LABELS = {
    "rlnDefocusV": "defocus_v",
    "rlnDefocusAngle": "defocus_angle",
    "rlnPhaseShift": "phase_shift",
    "rlnCtfBfactor": "bfactor",
    "rlnCtfScalefactor": "scale",
}


def electron_wavelength(voltage_kv: Scalar) -> Scalar:
    """Relativistic electron wavelength in Å for an accelerating voltage in kV (300 kV → 0.019687 Å).

    λ = h / √(2 m e V (1 + e V / (2 m c²))) = 12.2643247 / √(V (1 + 0.978466e-6 V)), V in volts.
    """
    volts = voltage_kv * 1e3
    if isinstance(volts, torch.Tensor):
        return 12.2643247 / torch.sqrt(volts * (1.0 + 0.978466e-6 * volts))
    return 12.2643247 / math.sqrt(volts * (1.0 + 0.978466e-6 * volts))


@dataclass(frozen=True, eq=False)
class CtfParams:
    """Per-particle CTF parameters, each a tensor of shape (B,) on one device and dtype.

    Units as in RELION STAR files: defocus_u/defocus_v in Å (positive = underfocus),
    defocus_angle in degrees (azimuth of the U axis from +x towards +y), voltage in kV,
    cs in mm, amplitude_contrast Q in [0, 1), phase_shift in degrees, bfactor in Å², scale
    dimensionless. Kernels convert to radians and Å internally.
    """

    defocus_u: torch.Tensor
    defocus_v: torch.Tensor
    defocus_angle: torch.Tensor
    voltage: torch.Tensor
    cs: torch.Tensor
    amplitude_contrast: torch.Tensor
    phase_shift: torch.Tensor
    bfactor: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def from_values(
        cls,
        *,
        defocus_u: Any,
        voltage: Any,
        cs: Any,
        amplitude_contrast: Any,
        defocus_v: Any = None,
        defocus_angle: Any = 0.0,
        phase_shift: Any = 0.0,
        bfactor: Any = 0.0,
        scale: Any = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> CtfParams:
        """Build from scalars or sequences (broadcast to one length B); defocus_v defaults to defocus_u."""
        values = {
            "defocus_u": defocus_u,
            "defocus_v": defocus_u if defocus_v is None else defocus_v,
            "defocus_angle": defocus_angle,
            "voltage": voltage,
            "cs": cs,
            "amplitude_contrast": amplitude_contrast,
            "phase_shift": phase_shift,
            "bfactor": bfactor,
            "scale": scale,
        }
        tensors = torch.broadcast_tensors(
            *(torch.as_tensor(v, dtype=dtype, device=device).reshape(-1) for v in values.values())
        )
        params = cls(**{name: t.contiguous() for name, t in zip(values, tensors, strict=True)})
        q = params.amplitude_contrast
        if bool(((q < 0) | (q >= 1)).any()):
            raise ValueError("amplitude contrast must lie in [0, 1)")
        return params

    @classmethod
    def from_columns(
        cls,
        columns: Mapping[str, Any],
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> CtfParams:
        """Build from STAR columns keyed by RELION label (``rlnDefocusU`` or ``_rlnDefocusU``).

        rlnDefocusU, rlnVoltage, rlnSphericalAberration and rlnAmplitudeContrast are required
        (RELION would silently default them); rlnDefocusV defaults to rlnDefocusU, the others to
        RELION's defaults (angle 0°, phase shift 0°, B-factor 0, scale 1). Per-optics-group values
        may be scalars; they broadcast against per-particle columns.
        """
        named = {key.lstrip("_"): value for key, value in columns.items()}
        missing = [label for label in _REQUIRED_LABELS if label not in named]
        if missing:
            raise ValueError(f"CTF columns missing: {', '.join(missing)}")
        kwargs = {
            field: named[label] for label, field in {**_REQUIRED_LABELS, **_OPTIONAL_LABELS}.items() if label in named
        }
        return cls.from_values(**kwargs, device=device, dtype=dtype)

    def __len__(self) -> int:
        return self.defocus_u.shape[0]

    def __getitem__(self, index: Any) -> CtfParams:
        """The parameters of a subset of particles (index with an int, slice, mask or index tensor)."""
        return CtfParams(**{f.name: getattr(self, f.name)[index].reshape(-1) for f in fields(self)})

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> CtfParams:
        """A copy on another device and/or dtype."""
        return CtfParams(**{f.name: getattr(self, f.name).to(device=device, dtype=dtype) for f in fields(self)})


def defocus_at_azimuth(params: CtfParams, azimuth: torch.Tensor) -> torch.Tensor:
    """Δf(α) in Å for azimuths α in radians; params broadcast as (B, 1, ..., 1) against ``azimuth``."""
    u, v, angle = (_expand(t, azimuth.dim()) for t in (params.defocus_u, params.defocus_v, params.defocus_angle))
    return 0.5 * (u + v) + 0.5 * (u - v) * torch.cos(2.0 * (azimuth - torch.deg2rad(angle)))


def ctf_phase(params: CtfParams, s2: torch.Tensor, defocus: torch.Tensor) -> torch.Tensor:
    """χ(s) in radians: (B, ...) for squared frequencies ``s2`` (1/Å², broadcastable to ...) and
    defocus (B, ...) in Å (from :func:`defocus_at_azimuth`)."""
    nd = defocus.dim() - 1
    wavelength = _expand(electron_wavelength(params.voltage), nd)
    cs = _expand(params.cs, nd) * 1e7
    return (
        math.pi * wavelength * defocus * s2
        - 0.5 * math.pi * cs * wavelength**3 * s2 * s2
        + _expand(_constant_phase(params), nd)
    )


def ctf_2d(
    params: CtfParams,
    image_size: int,
    pixel_size: float,
    *,
    phase_flip: bool = False,
    absolute: bool = False,
    ignore_until_first_peak: bool = False,
    damping: bool = True,
) -> torch.Tensor:
    """The CTF on the rfft grid of an N×N image: (B, N, N//2 + 1), origin at index 0.

    ``pixel_size`` in Å. Options as RELION's ``getFftwImage``: ``phase_flip`` gives
    sign(CTF)·scale (+1 where the CTF is 0), ``absolute`` |CTF|, ``ignore_until_first_peak`` sets
    sin(χ) to 1 wherever |χ| < π/2 (RELION's do_intact_until_first_peak, applied pointwise before
    damping), ``damping`` the B-factor envelope. Device and dtype follow ``params``.
    """
    k = rfft_frequencies((image_size, image_size), params.defocus_u.device, params.defocus_u.dtype) / pixel_size
    s2 = (k * k).sum(-1)
    azimuth = torch.atan2(k[..., 0], k[..., 1])
    return _evaluate(
        params, s2, defocus_at_azimuth(params, azimuth), phase_flip, absolute, ignore_until_first_peak, damping
    )


def ctf_1d(
    params: CtfParams,
    s: torch.Tensor,
    *,
    azimuth_deg: float | None = None,
    phase_flip: bool = False,
    absolute: bool = False,
    ignore_until_first_peak: bool = False,
    damping: bool = True,
) -> torch.Tensor:
    """A radial CTF profile (B, M) at frequencies ``s`` (M,) in 1/Å.

    Along ``azimuth_deg`` (degrees from +x) if given, else with the mean defocus (U + V)/2
    (the profile at 45° from the astigmatism axes). Options as :func:`ctf_2d`.
    """
    s = s.to(params.defocus_u)
    return _evaluate(
        params,
        s * s,
        _profile_defocus(params, azimuth_deg, s.dim()),
        phase_flip,
        absolute,
        ignore_until_first_peak,
        damping,
    )


def ctf_zeros(params: CtfParams, n: int, *, azimuth_deg: float | None = None) -> torch.Tensor:
    """Frequencies (1/Å) of the first ``n`` zeros of the CTF: (B, n), solving χ(s) = mπ analytically.

    χ = c + a s² − b s⁴ with a = πλΔf, b = (π/2)Csλ³ is quadratic in s², so the m-th zero is the
    smaller root s² = 2(mπ − c) / (a + √(a² − 4b(mπ − c))). The k-th zero uses m = ⌊c/π⌋ + k.
    Zeros that χ never reaches (past its maximum, or Δf ≤ 0) are NaN. Defocus as :func:`ctf_1d`.
    """
    defocus = _profile_defocus(params, azimuth_deg, 0)
    c = _constant_phase(params)
    orders = torch.floor(c / math.pi)[:, None] + torch.arange(1, n + 1, device=c.device, dtype=c.dtype)
    return _frequency_at_phase(params, defocus, orders * math.pi)


def first_peak_frequency(params: CtfParams, *, azimuth_deg: float | None = None) -> torch.Tensor:
    """Frequency (1/Å) of the first CTF peak, χ = π/2: (B,); 0 where χ(0) ≥ π/2 already."""
    defocus = _profile_defocus(params, azimuth_deg, 0)
    target = torch.full_like(defocus, 0.5 * math.pi)[:, None]
    return _frequency_at_phase(params, defocus, target)[:, 0].nan_to_num(0.0).clamp_min(0.0)


class CtfWeights(NamedTuple):
    """How a CTF enters the likelihood and the reconstruction.

    ``model``: multiplies the projected reference before comparison with the image;
    ``data``: multiplies the image before back-projection (None: use the image as it is);
    ``weight``: the back-projected weight (the CTF² denominator of the Wiener filter).
    """

    model: torch.Tensor
    data: torch.Tensor | None
    weight: torch.Tensor


def ctf_weights(ctf: torch.Tensor, premultiplied: bool = False) -> CtfWeights:
    """Factors for images X = CTF·P (model CTF, data CTF, weight CTF²) or for CTF-premultiplied images
    X' = CTF·X (rlnCtfDataArePremultiplied: model CTF², data as is, weight CTF²), as RELION does."""
    ctf2 = ctf * ctf
    if premultiplied:
        return CtfWeights(model=ctf2, data=None, weight=ctf2)
    return CtfWeights(model=ctf, data=ctf, weight=ctf2)


def _constant_phase(params: CtfParams) -> torch.Tensor:
    """phase_shift + atan(Q/√(1−Q²)) in radians: (B,)."""
    q = params.amplitude_contrast
    return torch.deg2rad(params.phase_shift) + torch.atan(q / torch.sqrt(1.0 - q * q))


def _profile_defocus(params: CtfParams, azimuth_deg: float | None, ndim: int) -> torch.Tensor:
    """Defocus (B, 1, ..., 1) along ``azimuth_deg``, or the mean defocus when None."""
    if azimuth_deg is None:
        return _expand(0.5 * (params.defocus_u + params.defocus_v), ndim)
    azimuth = torch.full(
        (1,) * ndim, math.radians(azimuth_deg), device=params.defocus_u.device, dtype=params.defocus_u.dtype
    )
    return defocus_at_azimuth(params, azimuth)


def _frequency_at_phase(params: CtfParams, defocus: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Smallest s ≥ 0 (1/Å) with χ(s) = target, for defocus (B,) and targets (B, M); NaN if none."""
    wavelength = electron_wavelength(params.voltage)
    a = (math.pi * wavelength * defocus)[:, None]
    b = (0.5 * math.pi * params.cs * 1e7 * wavelength**3)[:, None]
    rhs = target - _constant_phase(params)[:, None]
    disc = a * a - 4.0 * b * rhs
    s2 = 2.0 * rhs / (a + torch.sqrt(disc))
    valid = (disc >= 0) & (s2 >= 0) & (a > 0) & (rhs >= 0)
    return torch.where(valid, torch.sqrt(s2.clamp_min(0.0)), torch.full_like(s2, math.nan))


def _evaluate(
    params: CtfParams,
    s2: torch.Tensor,
    defocus: torch.Tensor,
    phase_flip: bool,
    absolute: bool,
    ignore_until_first_peak: bool,
    damping: bool,
) -> torch.Tensor:
    """CTF values from χ with RELION's options applied in RELION's order (intact, damping, abs/flip, scale)."""
    chi = ctf_phase(params, s2, defocus)
    value = torch.sin(chi)
    if ignore_until_first_peak:
        value = torch.where(chi.abs() < 0.5 * math.pi, torch.ones_like(value), value)
    nd = chi.dim() - 1
    if damping:
        value = value * torch.exp(-0.25 * _expand(params.bfactor, nd) * s2)
    if absolute:
        value = value.abs()
    elif phase_flip:
        value = torch.where(value < 0, -torch.ones_like(value), torch.ones_like(value))
    return _expand(params.scale, nd) * value


def _expand(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """(B,) → (B, 1, …, 1) with ``ndim`` trailing singleton axes."""
    return values.reshape(values.shape + (1,) * ndim)
