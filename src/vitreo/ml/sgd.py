"""Stochastic gradient descent on 3D references (RELION 3.0's --sgd, after cryoSPARC's ab initio).

One SGD iteration takes a random subset (mini-batch) of the particles, aligns it against the
current references with the engine's E-step and back-projects it: data D = Σ c·X/σ² and weight
W = Σ c²/σ². RELION's gradient is the reconstruction of the residuals, G = (D − W·V)/(W + P)
with P = 1/(T·tau²) the prior (0 in the lowest shells), whose fixed point is the unregularised
average D/W over all subsets. vitreo forms it from the subset's regularised reconstruction
V_s = D/(W + P) (the M-step's) as G = V_s − h∗V, with h the per-shell filter W̄/(W̄ + P) from
the shell-averaged weight W̄ (the M-step's 1/sigma2_class) — W replaced by its shell mean in
the W·V term. The step is RELION's momentum update

    dV ← μ·dV + (1 − μ)·η·G,     V ← V + dV

(η = ``stepsize``, RELION's --sgd_stepsize 0.5; μ = ``momentum``, its --mu 0.9). Shells beyond
the subset's resolution limit get no data (W̄ = 0, G = 0) and keep their values. Nuisance
parameters (noise spectra, group scales, class priors, the offset prior) are moving averages
of the subsets' estimates with weight ``stepsize``; per-particle norm corrections are not
refined (a subset's norms would not be comparable with the average over all particles).

The schedule (RELION 3.0's initial, in-between and final iterations) sets each iteration's
resolution limit and subset size: ``ini_resol``/``ini_subset`` for the first ``ini_iter``,
then the spatial frequency 1/resolution and the subset size change linearly over
``inbetween_iter``, and ``fin_resol``/``fin_subset`` hold for the last ``fin_iter``.
Noise variance starts ``sigma2_fudge_initial`` (8) times larger and halves its excess every
``sigma2_fudge_halflife`` particles (≤ 0: no inflation), which keeps early posteriors broad.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from vitreo.em.filters import apply_fourier_filter
from vitreo.em.fourier import shell_index
from vitreo.ml.model import MlModel

SIGMA2_FUDGE_INITIAL = 8.0  # RELION's --sgd_sigma2fudge_initial


@dataclass(frozen=True)
class SgdSchedule:
    """Iterations, resolution limits (Å) and subset sizes of the three SGD phases (RELION 3.0)."""

    ini_iter: int = 50
    inbetween_iter: int = 200
    fin_iter: int = 50
    ini_resol: float = 35.0
    fin_resol: float = 15.0
    ini_subset: int = 100
    fin_subset: int = 500

    @property
    def n_iterations(self) -> int:
        return self.ini_iter + self.inbetween_iter + self.fin_iter

    def _fraction(self, iteration: int) -> float:
        """0 during the initial phase, 1 during the final one, linear in between (1-based iteration)."""
        done = iteration - 1 - self.ini_iter
        if done < 0:
            return 0.0
        if done >= self.inbetween_iter:
            return 1.0
        return (done + 1) / (self.inbetween_iter + 1)

    def resolution(self, iteration: int) -> float:
        """Resolution limit (Å) of an iteration: 1/resolution moves linearly between the phases."""
        f = self._fraction(iteration)
        return 1.0 / ((1 - f) / self.ini_resol + f / self.fin_resol)

    def subset_size(self, iteration: int) -> int:
        """Particles in the subset of an iteration."""
        f = self._fraction(iteration)
        return max(1, round((1 - f) * self.ini_subset + f * self.fin_subset))


def sigma2_fudge(particles_seen: int, halflife: float, initial: float = SIGMA2_FUDGE_INITIAL) -> float:
    """Factor on the noise variance after ``particles_seen`` particles: 1 + (initial − 1)·2^(−seen/halflife),
    or 1 when ``halflife`` ≤ 0."""
    if halflife <= 0:
        return 1.0
    return 1.0 + (initial - 1.0) * 0.5 ** (particles_seen / halflife)


def image_size_for(resolution: float, box: int, pixel_size: float) -> int:
    """The even image size (pixels) whose Nyquist frequency reaches ``resolution`` Å, at most the box."""
    return min(box, 2 * math.ceil(box * pixel_size / resolution))


class SubsetSampler:
    """Random subsets drawn without replacement from passes over shuffled particle indices."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n, self.generator = n, generator
        self.order = torch.randperm(n, generator=generator)
        self.position = 0

    def draw(self, size: int) -> torch.Tensor:
        """The next ``size`` particle indices (all of them if ``size`` ≥ n), sorted."""
        size = min(size, self.n)
        if self.position + size > self.n:
            self.order = torch.randperm(self.n, generator=self.generator)
            self.position = 0
        chosen = self.order[self.position : self.position + size]
        self.position += size
        return torch.sort(chosen).values


@dataclass
class SgdStep:
    """The momentum update: ``velocity`` dV (K, N, N, N) carried between iterations."""

    stepsize: float = 0.5
    momentum: float = 0.9
    velocity: torch.Tensor | None = None

    def apply(self, current: MlModel, subset: MlModel, active: torch.Tensor, unregularised_shells: int = 0) -> MlModel:
        """The next model from the current one and the subset's M-step result; ``active`` (K,)
        marks the classes that received particles (the others keep their reference);
        ``unregularised_shells`` is the M-step's min_resolution_shell (no prior below it)."""
        fraction = data_fraction(subset, unregularised_shells)
        gradient = torch.zeros_like(current.references)
        for k in torch.nonzero(active).squeeze(-1).tolist():
            response = fraction[k][shell_index(tuple(current.references.shape[1:])).clamp_max(fraction.shape[1] - 1)]
            gradient[k] = subset.references[k] - apply_fourier_filter(current.references[k], response.to(gradient))
        if self.velocity is None:
            self.velocity = torch.zeros_like(current.references)
        self.velocity = self.momentum * self.velocity + (1.0 - self.momentum) * self.stepsize * gradient
        w = self.stepsize

        def blend(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
            return (1.0 - w) * old + w * new.to(old)

        distribution = blend(current.class_distribution, subset.class_distribution)
        return replace(
            subset,
            references=current.references + self.velocity,
            class_distribution=distribution / distribution.sum(),
            sigma2_noise=blend(current.sigma2_noise, subset.sigma2_noise),
            scale=blend(current.scale, subset.scale),
            sigma_offset=(1.0 - w) * current.sigma_offset + w * subset.sigma_offset,
            avg_norm=current.avg_norm,
            group_counts=current.group_counts,
        )


def data_fraction(subset: MlModel, unregularised_shells: int) -> torch.Tensor:
    """W̄/(W̄ + P) per class and shell (K, N//2+1) of a subset's M-step: the share of the data in
    its regularised reconstruction (1 where no prior applies, 0 where there are no data)."""
    if subset.sigma2_class is None:
        raise ValueError("the subset model has no sigma2_class (run the M-step first)")
    sigma2 = subset.sigma2_class.double()
    weight = torch.where(sigma2 > 0, 1.0 / sigma2.clamp_min(1e-300), 0.0)
    tau2 = subset.tau2.double() * subset.tau2_fudge
    prior = torch.where(tau2 > 0, 1.0 / tau2.clamp_min(1e-300), 0.0)
    prior[:, :unregularised_shells] = 0.0
    total = weight + prior
    return torch.where(total > 0, weight / total.clamp_min(1e-300), 0.0).float()
