"""Local refinement of a CTF fit: mean defocus, the astigmatism vector and the phase shift,
maximising the 2D fit score of ``ctf_search.fit_score`` with L-BFGS (torch autograd, float64).

The astigmatism is refined as the vector (A cos 2θ, A sin 2θ), which is smooth through
A = 0 where the angle is undefined; defocus is scaled to µm for conditioning. The mean
defocus is kept within the searched range.
"""

from __future__ import annotations

import math

import torch

from vitreo.preprocess.ctf_model import CtfFitParams
from vitreo.preprocess.ctf_search import BandSamples, fit_score

MAX_ITERATIONS = 60
UNIT = 1e4  # Å per optimisation unit of defocus


def refine_fit(samples: BandSamples, start: CtfFitParams, tolerance: float, fit_phase: bool,
               defocus_range: tuple[float, float]) -> tuple[CtfFitParams, float]:
    """Refined parameters and their score."""
    theta = math.radians(start.angle)
    half = 0.5 * start.astigmatism
    x = torch.tensor([start.mean_defocus / UNIT, half * math.cos(2 * theta) / UNIT, half * math.sin(2 * theta) / UNIT,
                      math.radians(start.phase_shift)], dtype=torch.float64, device=samples.values.device,
                     requires_grad=True)
    low, high = defocus_range

    def score_of(v: torch.Tensor) -> torch.Tensor:
        phase = v[3:4] if fit_phase else torch.zeros_like(v[3:4])
        return fit_score(samples, v[0:1] * UNIT, v[1:2] * UNIT, v[2:3] * UNIT, phase, tolerance)[0]

    optimizer = torch.optim.LBFGS([x], max_iter=MAX_ITERATIONS, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-10, tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = -score_of(x)
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        x[0].clamp_(low / UNIT, high / UNIT)
        score = float(score_of(x))
    v = x.detach().cpu().tolist()
    phase = math.degrees(v[3]) if fit_phase else 0.0
    return CtfFitParams.from_astigmatism(v[0] * UNIT, v[1] * UNIT, v[2] * UNIT, phase), score


__all__ = ["refine_fit"]
