"""RELION's expected accuracy of orientations and offsets (MlOptimiser::calculateExpectedAngularErrors).

For a trial particle with CTF c and noise σ² at its assigned orientation A, its class's projection
P(A) is compared with P(A′), A′ being A with rot, tilt or psi (one at random; psi in 2D) moved
by δ: the smallest δ on RELION's ladder of trial errors at which

    Σ_k |c (P(A) − P(A′))|² / (2σ²) > −ln 0.01   (the two hypotheses' likelihoods differ 100-fold)

is that particle's angular accuracy (degrees); a shift of P(A) by δ pixels along x or y gives the
translational accuracy (pixels). Sums run over the pixels of the current image size. Accuracies
are averaged per class over up to 100 random particles (999 for a class without any); auto-refine
stops making the angular sampling finer once its step is below 75% of this accuracy.
"""

from __future__ import annotations

import math

import torch

from vitreo.em.geometry import euler_to_matrix
from vitreo.ml.batch import ImageOptions, prepare_batch
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.particles import ParticleSet
from vitreo.ml.pixels import FourierPixels
from vitreo.ml.references import ReferenceProjector

#: −ln(0.01): the summed squared difference (in noise units) at which two hypotheses are told apart.
DISTINGUISHABLE = 4.60517
#: RELION's trial angular errors (degrees): steps of 0.05 up to 0.2, 0.1 to 1, 0.2 to 2, 0.5 to 5,
#: 1 to 10, 2 to 20, then 5; 35 stands for "more than 30".
ANGLE_ERRORS = (
    [0.05 * i for i in range(1, 5)] + [0.2 + 0.1 * i for i in range(1, 9)] + [1.0 + 0.2 * i for i in range(1, 6)]
    + [2.0 + 0.5 * i for i in range(1, 7)] + [5.0 + i for i in range(1, 6)] + [10.0 + 2 * i for i in range(1, 6)]
    + [25.0, 30.0, 35.0]
)
#: RELION's trial shifts (pixels): steps of 0.1 up to 1, 0.2 to 2, 0.5 to 5, 1 to 10; 12 stands for "more than 10".
SHIFT_ERRORS = (
    [0.1 * i for i in range(1, 11)] + [1.0 + 0.2 * i for i in range(1, 6)] + [2.0 + 0.5 * i for i in range(1, 7)]
    + [5.0 + i for i in range(1, 6)] + [12.0]
)
N_TRIALS = 100
UNKNOWN = 999.0


def expected_accuracies(
    model: MlModel,
    particles: ParticleSet,
    ids: torch.Tensor,
    state: ParticleState,
    options: ImageOptions,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    n_trials: int = N_TRIALS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class accuracies (K,) of rotations (degrees) and translations (pixels) of ``model``,
    from up to ``n_trials`` random particles among ``ids`` (n,) whose rows of ``state`` (n rows,
    aligned with ``ids``) hold their class, orientation and offset."""
    k = model.n_classes
    chosen = torch.randperm(len(ids), generator=generator)[:n_trials]
    pixels = FourierPixels.for_size(model.box, model.current_size, device)
    batch = prepare_batch(
        particles, ids[chosen], state.offsets[chosen], state.norm[chosen], model, pixels, options, generator
    )
    weight = 0.5 * batch.ctf_model.square() * batch.lik_inv_sigma2  # (B, F): |c·ΔP|²/(2σ²) per pixel
    classes = state.class_index[chosen].to(device)
    angles = state.angles[chosen].to(device=device, dtype=torch.float64)
    base = _rotations(angles, model.ndim)
    projector = ReferenceProjector(model.references, device=device)
    reference = projector.project(classes, base, pixels)  # (B, F)
    rot_errors = _first_distinguishable(
        _angle_scores(projector, classes, angles, reference, weight, pixels, model.ndim, generator), ANGLE_ERRORS
    )
    shift_errors = _first_distinguishable(_shift_scores(reference, weight, pixels, model.box, generator), SHIFT_ERRORS)
    return _class_means(rot_errors, classes.cpu(), k), _class_means(shift_errors, classes.cpu(), k)


def _rotations(angles: torch.Tensor, ndim: int) -> torch.Tensor:
    """Matrices (..., D, D) of (rot, tilt, psi) radians (..., 3); in 2D the in-plane part."""
    return euler_to_matrix(*angles.unbind(-1))[..., :ndim, :ndim].to(torch.float32)


def _angle_scores(
    projector: ReferenceProjector, classes: torch.Tensor, angles: torch.Tensor, reference: torch.Tensor,
    weight: torch.Tensor, pixels: FourierPixels, ndim: int, generator: torch.Generator,
) -> torch.Tensor:
    """Σ w |P(A) − P(A′)|² (B, E) for every trial angular error E, the angle moved at random."""
    b, e = angles.shape[0], len(ANGLE_ERRORS)
    errors = torch.deg2rad(torch.tensor(ANGLE_ERRORS, dtype=torch.float64, device=angles.device))
    axis = torch.randint(0, 3, (b, e), generator=generator).to(angles.device) if ndim == 3 else torch.full((b, e), 2, device=angles.device)
    moved = angles[:, None, :].repeat(1, e, 1)
    moved.scatter_add_(2, axis[..., None], errors[None, :, None].expand(b, -1, 1))
    perturbed = projector.project(classes.repeat_interleave(e), _rotations(moved.reshape(-1, 3), ndim), pixels)
    difference = reference[:, None, :] - perturbed.reshape(b, e, -1)
    return (difference.real.square() + difference.imag.square()).mul_(weight[:, None, :]).sum(-1)


def _shift_scores(
    reference: torch.Tensor, weight: torch.Tensor, pixels: FourierPixels, box: int, generator: torch.Generator
) -> torch.Tensor:
    """Σ w |P|² |1 − e^{−2πi k·δ/N}|² (B, E) for every trial shift E along x or y at random."""
    b, e = reference.shape[0], len(SHIFT_ERRORS)
    errors = torch.tensor(SHIFT_ERRORS, dtype=torch.float32, device=reference.device)
    axis = torch.randint(0, 2, (b, e), generator=generator).to(reference.device)
    frequency = pixels.coords[:, 0][None, None, :] * (axis == 0)[..., None] + pixels.coords[:, 1][None, None, :] * (axis == 1)[..., None]
    phase = 2.0 * math.pi * frequency * errors[None, :, None] / box  # (B, E, F)
    power = (reference.real.square() + reference.imag.square()) * weight
    return (2.0 * (1.0 - torch.cos(phase)) * power[:, None, :]).sum(-1)


def _first_distinguishable(scores: torch.Tensor, errors: list[float]) -> torch.Tensor:
    """Per particle the first error whose score exceeds DISTINGUISHABLE (the last error if none)."""
    above = scores > DISTINGUISHABLE
    first = torch.where(above.any(dim=1), above.to(torch.int8).argmax(dim=1), torch.full_like(above[:, 0], len(errors) - 1, dtype=torch.long))
    return torch.tensor(errors, dtype=torch.float64)[first.cpu()]


def _class_means(values: torch.Tensor, classes: torch.Tensor, k: int) -> torch.Tensor:
    """Mean of values (B,) per class (K,), UNKNOWN for classes without values."""
    counts = torch.bincount(classes, minlength=k).double()
    sums = torch.zeros(k, dtype=torch.float64).index_add_(0, classes, values)
    return torch.where(counts > 0, sums / counts.clamp_min(1.0), UNKNOWN)
