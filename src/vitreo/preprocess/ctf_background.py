"""Smooth background and envelope of an amplitude spectrum, fitted jointly with a CTF model.

Along the radius r (Fourier pixels) an amplitude spectrum is modelled as

    A(r) = B(r) + E(r) · CTF²(r)

with B (the background: noise, ice, detector) and E (the Thon rings' envelope) cubic
polynomials in log r (B-splines without interior knots; backgrounds fall fastest at low
frequency). Anything more flexible follows broad Thon rings and makes wrong defoci fit
as well as the right one. For a given CTF both are linear in their coefficients, so every CTF hypothesis
gets its best background by weighted least squares, all hypotheses at once; a hypothesis
whose envelope is not positive on average is rejected (it would fit the rings inverted).
Weights are the pixel count of each ring over the squared smoothed amplitude (relative
errors), so neither the bright centre nor the many outer pixels dominate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import BSpline

SPLINE_DEGREE = 3
INTERIOR_KNOTS = 0
RIDGE = 1e-9  # relative Tikhonov term keeping the normal equations solvable


@dataclass(frozen=True)
class RadialBasis:
    """B-splines in log r on [r_min, r_max] (radii outside are clamped to the ends)."""

    r_min: float
    r_max: float
    interior: int = INTERIOR_KNOTS

    @property
    def size(self) -> int:
        return self.interior + SPLINE_DEGREE + 1

    def __call__(self, radius: torch.Tensor) -> torch.Tensor:
        """Basis values (n, K) float64 at radii (n,)."""
        lo, hi = math.log(self.r_min), math.log(self.r_max)
        inner = np.linspace(lo, hi, self.interior + 2)
        knots = np.concatenate([[lo] * SPLINE_DEGREE, inner, [hi] * SPLINE_DEGREE])
        x = np.log(np.clip(radius.detach().cpu().numpy().astype(np.float64).reshape(-1), self.r_min, self.r_max))
        matrix = BSpline.design_matrix(np.clip(x, lo, hi), knots, SPLINE_DEGREE).toarray()
        return torch.as_tensor(matrix, device=radius.device).reshape(*radius.shape, self.size)


@dataclass(frozen=True)
class BackgroundFit:
    """Coefficients of B and E (K,) on ``basis``, and the weighted residual sum of squares."""

    basis: RadialBasis
    background_coef: torch.Tensor
    envelope_coef: torch.Tensor
    rss: float

    def background(self, radius: torch.Tensor) -> torch.Tensor:
        return self.basis(radius) @ self.background_coef

    def envelope(self, radius: torch.Tensor) -> torch.Tensor:
        return self.basis(radius) @ self.envelope_coef


def gaussian_smooth(profile: torch.Tensor, width: float) -> torch.Tensor:
    """A profile (n,) convolved with a normalised Gaussian of ``width`` samples (ends repeated)."""
    n = profile.shape[-1]
    x = torch.arange(-int(3 * width), int(3 * width) + 1, dtype=profile.dtype, device=profile.device)
    kernel = torch.exp(-0.5 * (x / width) ** 2)
    padded = torch.nn.functional.pad(profile.reshape(1, 1, n), (len(x) // 2, len(x) // 2), mode="replicate")
    return torch.nn.functional.conv1d(padded, (kernel / kernel.sum()).reshape(1, 1, -1)).reshape(n)


def ring_weights(profile: torch.Tensor, counts: torch.Tensor, smooth_px: float = 3.0) -> torch.Tensor:
    """Least-squares weights of radial samples: pixel count over the squared, smoothed amplitude."""
    return counts / gaussian_smooth(profile, smooth_px).abs().clamp_min(1e-30) ** 2


def fit_backgrounds(values: torch.Tensor, basis_values: torch.Tensor, ctf2: torch.Tensor, weights: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted least squares of values (n,) ≈ Φb + (Φe)·ctf2 for hypotheses ctf2 (H, n).

    Returns background coefficients (H, K), envelope coefficients (H, K) and the residual sum
    of squares (H,), +inf where the envelope is not positive on average.
    """
    h, k = ctf2.shape[0], basis_values.shape[-1]
    root = weights.sqrt()
    phi = basis_values * root[:, None]
    design = torch.cat([phi.expand(h, -1, -1), phi[None] * ctf2[..., None]], dim=-1)  # (H, n, 2K)
    target = values * root
    gram = design.transpose(-1, -2) @ design
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-300)[:, None, None]
    gram = gram + RIDGE * scale * torch.eye(2 * k, dtype=gram.dtype, device=gram.device)
    rhs = design.transpose(-1, -2) @ target
    coef = torch.linalg.solve(gram, rhs)
    rss = (target @ target) - (rhs * coef).sum(-1)
    envelope_mean = basis_values.mean(0) @ coef[:, k:].T  # (H,)
    rss = torch.where(envelope_mean > 0, rss, torch.full_like(rss, math.inf))
    return coef[:, :k], coef[:, k:], rss


def fit_background(values: torch.Tensor, radius: torch.Tensor, ctf2: torch.Tensor, weights: torch.Tensor,
                   basis: RadialBasis) -> BackgroundFit:
    """The background and envelope of one CTF model (ctf2 (n,)) for samples at ``radius``."""
    b, e, rss = fit_backgrounds(values, basis(radius), ctf2[None], weights)
    return BackgroundFit(basis, b[0], e[0], float(rss[0]))


__all__ = ["RadialBasis", "BackgroundFit", "gaussian_smooth", "ring_weights", "fit_backgrounds", "fit_background"]
