"""CTF hypotheses for fitting: the fitted parameters and CTF² on spectrum samples.

Uses RELION's CTF (``em.ctf``): defocus U along the azimuth ``angle`` (degrees from +x
towards +y), V perpendicular, both in Å (positive = underfocus); phase shift in degrees.
Parameters are normalised as CTFFIND reports them: U ≥ V and the angle in (−90°, 90°].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vitreo.em.ctf import CtfParams, ctf_phase, defocus_at_azimuth


@dataclass(frozen=True)
class Optics:
    """Microscope constants: voltage (kV), spherical aberration (mm), amplitude contrast (fraction)."""

    voltage: float
    cs: float
    amplitude_contrast: float


@dataclass(frozen=True)
class CtfFitParams:
    """One fitted CTF: defocus U, V (Å), astigmatism angle (degrees), phase shift (degrees)."""

    defocus_u: float
    defocus_v: float
    angle: float
    phase_shift: float = 0.0

    @property
    def mean_defocus(self) -> float:
        return 0.5 * (self.defocus_u + self.defocus_v)

    @property
    def astigmatism(self) -> float:
        return self.defocus_u - self.defocus_v

    def normalised(self) -> CtfFitParams:
        """U ≥ V (swapping turns the axis by 90°), angle in (−90, 90]."""
        u, v, angle = self.defocus_u, self.defocus_v, self.angle
        if u < v:
            u, v, angle = v, u, angle + 90.0
        angle = (angle + 90.0) % 180.0 - 90.0
        if angle == -90.0:
            angle = 90.0
        return CtfFitParams(u, v, angle, self.phase_shift)

    @classmethod
    def from_astigmatism(cls, mean: float, a_cos: float, a_sin: float, phase: float = 0.0) -> CtfFitParams:
        """From the mean defocus and the half-astigmatism vector (A cos 2θ, A sin 2θ), Å."""
        half = math.hypot(a_cos, a_sin)
        return cls(mean + half, mean - half, 0.5 * math.degrees(math.atan2(a_sin, a_cos)), phase).normalised()


def hypotheses(optics: Optics, defocus_u: torch.Tensor, defocus_v: torch.Tensor, angle: torch.Tensor,
               phase: torch.Tensor) -> CtfParams:
    """CtfParams for H hypotheses (each argument (H,) or broadcastable), float64."""
    return CtfParams.from_values(defocus_u=defocus_u, defocus_v=defocus_v, defocus_angle=angle,
                                 voltage=optics.voltage, cs=optics.cs, amplitude_contrast=optics.amplitude_contrast,
                                 phase_shift=phase, dtype=torch.float64, device=defocus_u.device)


def fit_params(params: CtfFitParams, optics: Optics, device: torch.device | str | None = None) -> CtfParams:
    """em.ctf.CtfParams (B = 1, float64) of one fitted CTF."""
    def one(value: float) -> torch.Tensor:
        return torch.tensor([value], dtype=torch.float64, device=device)

    return hypotheses(optics, one(params.defocus_u), one(params.defocus_v), one(params.angle), one(params.phase_shift))


def ctf_squared(params: CtfParams, s2: torch.Tensor, azimuth: torch.Tensor | None = None) -> torch.Tensor:
    """sin²χ (H, n) at samples with squared frequency s2 (n,) (1/Å²) and azimuths (n,) radians
    (None: the mean defocus, as for a rotational average)."""
    if azimuth is None:
        defocus = (0.5 * (params.defocus_u + params.defocus_v))[:, None].expand(-1, s2.shape[-1])
    else:
        defocus = defocus_at_azimuth(params, azimuth)
    return torch.sin(ctf_phase(params, s2, defocus)).square()


def phase_of(params: CtfParams, s2: torch.Tensor, azimuth: torch.Tensor) -> torch.Tensor:
    """χ (H, n) in radians at the samples."""
    return ctf_phase(params, s2, defocus_at_azimuth(params, azimuth))


__all__ = ["Optics", "CtfFitParams", "hypotheses", "fit_params", "ctf_squared", "phase_of"]
