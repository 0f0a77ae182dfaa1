"""Smooth background and envelope of an amplitude spectrum, fitted jointly with a CTF model.

Along the radius r (Fourier pixels) an amplitude spectrum is modelled as

    A(r) = B(r) + E(r) · CTF²(r)

with B (the background: noise, ice, detector) and E (the Thon rings' envelope) cubic
polynomials in log r (B-splines without interior knots; backgrounds fall fastest at low
frequency). Anything more flexible follows broad Thon rings and makes wrong defoci fit
as well as the right one. For a given CTF both are linear in their coefficients: weighted
least squares gives them; a fit whose envelope is not positive on average is rejected (it
would fit the rings inverted). These fits serve the 2D stage around one mean defocus; the
mean-defocus search itself scores hypotheses without them (``ctf_search.ring_contrast``):
fitted per hypothesis, even this envelope could fade out the rings a wrong defocus misses.
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


def fit_background(values: torch.Tensor, radius: torch.Tensor, ctf2: torch.Tensor, weights: torch.Tensor,
                   basis: RadialBasis) -> BackgroundFit:
    """The background and envelope of one CTF model: weighted least squares of values (n,) ≈ Φb + (Φe)·ctf2
    for samples at ``radius`` (n,); the residual sum of squares is +inf where the envelope is not
    positive on average."""
    phi = basis(radius)
    k = phi.shape[-1]
    root = weights.sqrt()
    design = torch.cat([phi, phi * ctf2[:, None]], dim=-1) * root[:, None]  # (n, 2K)
    target = values * root
    gram = design.T @ design
    gram = gram + RIDGE * gram.diagonal().mean().clamp_min(1e-300) * torch.eye(2 * k, dtype=gram.dtype, device=gram.device)
    rhs = design.T @ target
    coef = torch.linalg.solve(gram, rhs)
    rss = float(target @ target - rhs @ coef)
    if not float(phi.mean(0) @ coef[k:]) > 0:
        rss = math.inf
    return BackgroundFit(basis, coef[:k], coef[k:], rss)


__all__ = ["RadialBasis", "BackgroundFit", "gaussian_smooth", "ring_weights", "fit_background"]
