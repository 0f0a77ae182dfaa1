"""RELION's local motion model (``ThirdOrderPolynomialModel``, model version 1): evaluation.

The local shift of frame z (0-based from the first frame of the sum) at pixel (X, Y) of the
movie is L(z, x, y) = Σ_t (c_t1·z + c_t2·z² + c_t3·z³)·term_t(x, y) with x = X/nx − 0.5,
y = Y/ny − 0.5 and the spatial terms (1, x, x², y, y², xy); 18 coefficients per axis,
stored x then y in RELION's order (term-major: index 3t + p − 1). The total shift that
aligns frame z at (X, Y) is the global shift plus L (movie pixels, RELION's sign). L has no
constant term in z, so L(0) = 0: frame 1 is the reference everywhere.

Shared by the simulator (which draws motion in this form) and motion correction (which fits it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

COEFFS_PER_AXIS = 18
MODEL_VERSION = 1  # RELION's MOTION_MODEL_THIRD_ORDER_POLYNOMIAL


def spatial_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The terms (1, x, x², y, y², xy) at normalised positions: (6, n)."""
    return np.stack([np.ones_like(x), x, x * x, y, y * y, x * y])


@dataclass(frozen=True)
class PolynomialMotion:
    """36 coefficients (x then y, RELION order) for frames of ``size`` (nx, ny) pixels."""

    coefficients: np.ndarray
    size: tuple[int, int]

    @property
    def per_axis(self) -> np.ndarray:
        """Coefficients as (axis, term, power) = (2, 6, 3)."""
        return self.coefficients.reshape(2, 6, 3)

    def shifts(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """L at pixel positions x, y (n,) for frames z (F,): (F, n, 2) pixels."""
        terms = spatial_terms(*self.normalised(x, y))
        z = np.asarray(z, dtype=np.float64)
        powers = np.stack([z, z**2, z**3], axis=1)
        return np.einsum("fp,atp,tn->fna", powers, self.per_axis, terms)

    def separable(self, z: np.ndarray, height: int, scale: float, device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32, y_origin: float = 0.0
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """L on an output grid as a(y) + x·(b(y) + c·x) with x = X/nx − 0.5 the normalised column:
        a, b (F, 2, height, 1) and c (F, 2, 1, 1), in output pixels.

        Output pixel (i, j) sits at movie pixel (j·scale, i·scale + y_origin) (scale = binning
        factor); shifts are divided by ``scale``.
        """
        z = torch.as_tensor(np.asarray(z, dtype=np.float64), device=device)
        powers = torch.stack([z, z**2, z**3], dim=1)  # (F, 3)
        c = torch.einsum("fp,atp->fat", powers, torch.as_tensor(self.per_axis, device=device)) / scale  # (F, 2, 6)
        y = (torch.arange(height, device=device, dtype=torch.float64) * scale + y_origin) / self.size[1] - 0.5
        a = c[..., 0:1] + y * (c[..., 3:4] + c[..., 4:5] * y)
        b = c[..., 1:2] + c[..., 5:6] * y
        return a[..., None].to(dtype), b[..., None].to(dtype), c[..., 2:3, None].to(dtype)

    def normalised(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel positions as the polynomial's (x, y) ∈ [−0.5, 0.5)."""
        return (np.asarray(x, np.float64) / self.size[0] - 0.5, np.asarray(y, np.float64) / self.size[1] - 0.5)


def path_length(shifts: np.ndarray) -> float:
    """Length of the path through per-frame shifts (F, 2), in their units (RELION's rlnAccumMotionTotal)."""
    return float(np.linalg.norm(np.diff(np.asarray(shifts, np.float64), axis=0), axis=1).sum())


__all__ = ["COEFFS_PER_AXIS", "MODEL_VERSION", "PolynomialMotion", "spatial_terms", "path_length"]
