"""The M-step: new references, noise spectra, scales, priors and resolution from the statistics.

For classification (no gold standard), each class is a regularised (MAP) reconstruction
F = Σ c X/σ² / (Σ c²/σ² + 1/(T·tau²)), with T the regularisation parameter (RELION's tau2_fudge),
and its data-vs-prior (rlnSsnrMap) is T·tau²·⟨Σ c²/σ²⟩. Where vitreo departs from RELION is the
signal power tau²: RELION takes the power of the previous (already regularised) reference, whose
fixed point is 0 wherever a shell starts out weak — the resolution then creeps up by what masking
leaks into new shells, and signal that the data hold is filtered away. vitreo estimates tau² per
shell from the same iteration's unregularised reconstruction F_u, masked like the reference, minus
its noise power: tau² = |mask·F_u|²/2 − f/⟨Σ c²/σ²⟩ (floored at 10⁻³ of that noise power), with
f the fraction of the noise the mask keeps (Σ mask²·m²/Σ m² for images masked by m, ⟨mask²⟩ for
noise that fills the box), then regularises with it. Shells below ``min_resolution_shell`` are not regularised (RELION's
minres_map).

- references are post-processed (re-centred, masked) by the caller after reconstruction;
- noise σ²(group, shell) is the expected residual per component inside the current image size
  and the image power beyond it; intensity scales Σ XA/Σ AA per group, normalised to mean 1;
- the offset prior σ² = ⟨|offset|²⟩/2; class priors the posterior mass per class;
- resolution: per class the last shell before the SSNR falls below 1; the next image size is
  2·(best shell + ``incr_size``), capped by the box and the E-step resolution limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from vitreo.em.fourier import power_spectrum, shell_index
from vitreo.ml.model import MlModel, ParticleState
from vitreo.ml.pixels import resolution_shell, shell_resolution
from vitreo.ml.statistics import SufficientStatistics

PostProcess = Callable[[torch.Tensor], torch.Tensor]

UNREGULARISED = 1e30  # tau² handed to the back-projector where no prior applies
TAU2_FLOOR = 1e-3  # smallest tau², as a fraction of the reconstruction's noise power


@dataclass(frozen=True)
class MStepOptions:
    """RELION's incr_size (shells beyond the resolution the next E-step uses), minimum resolution
    shell (its minres_map), the E-step resolution limit in Å (≤ 0: none), the solvent mask of the
    references (N, N) or (N, N, N) used for their signal power (None: no mask), the mask the
    images were multiplied by (None: their noise fills the box), and which nuisance parameters to
    refine (noise spectra, group scales, per-particle norm, offset prior). ``tau2`` (K, N//2+1)
    replaces the estimated signal power (gold-standard refinement: SSNR/⟨Σ c²/σ²⟩ from the FSC
    between half-maps, as RELION's updateTau2WithFsc); T multiplies it as usual."""

    incr_size: int = 10
    min_resolution_shell: int = 5
    highres_limit: float = -1.0
    solvent_mask: torch.Tensor | None = None
    image_mask: torch.Tensor | None = None
    update_noise: bool = True
    update_scale: bool = True
    update_norm: bool = True
    update_sigma_offset: bool = True
    tau2: torch.Tensor | None = None


def reference_power(references: torch.Tensor) -> torch.Tensor:
    """Power per shell (K, N//2+1): the references' rotationally averaged |F|²/2."""
    return 0.5 * power_spectrum(references.double(), references.dim() - 1).float()


def kept_noise(solvent_mask: torch.Tensor | None, image_mask: torch.Tensor | None) -> float:
    """The fraction of a reconstruction's noise power that the solvent mask keeps: Σ s²m²/Σ m² for
    images masked by m (their noise lies within m), ⟨s²⟩ for noise that fills the box."""
    if solvent_mask is None:
        return 1.0
    if image_mask is None:
        return float(solvent_mask.square().mean())
    m2 = image_mask.square()
    return float((solvent_mask.square() * m2).sum() / m2.sum().clamp_min(1e-30))


def signal_power(
    unregularised: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor | None, fraction: float
) -> torch.Tensor:
    """tau² (N//2+1,) of one class: the masked unregularised reconstruction's power |F|²/2 minus
    its remaining noise power ``fraction``·noise (noise = 1/⟨Σ c²/σ²⟩ per shell), floored; 0
    where there are no data."""
    masked = unregularised if mask is None else unregularised * mask.to(unregularised)
    power = reference_power(masked[None])[0]
    return torch.where(noise > 0, (power - fraction * noise).clamp_min(TAU2_FLOOR * noise), 0.0)


def maximise(
    model: MlModel,
    stats: SufficientStatistics,
    state: ParticleState,
    options: MStepOptions,
    post_process: PostProcess | None = None,
) -> MlModel:
    """The next model; ``state.norm`` is updated in place when norm correction is on."""
    box = model.box
    n_shells = box // 2 + 1
    inside = torch.arange(n_shells) < stats.pixels.size // 2
    low = torch.arange(n_shells) < options.min_resolution_shell
    fraction = kept_noise(options.solvent_mask, options.image_mask)
    weight = stats.class_weight.float().cpu()
    references = model.references.clone()
    tau2 = model.tau2.clone()
    ssnr = torch.zeros_like(model.ssnr)
    sigma2_class = torch.zeros_like(model.ssnr)
    for k, backprojector in enumerate(stats.backprojectors):
        if weight[k] <= 0:
            continue
        mean_weight = backprojector.mean_weight().float().cpu()
        sigma2_class[k] = torch.where(mean_weight > 0, 1.0 / mean_weight.clamp_min(1e-30), 0.0)
        if options.tau2 is not None:
            tau2[k] = options.tau2[k].to(tau2)
        else:
            unregularised = backprojector.reconstruct(method="division").cpu()
            tau2[k] = signal_power(unregularised, sigma2_class[k], options.solvent_mask, fraction)
        prior = torch.where(low | (tau2[k] <= 0), UNREGULARISED, model.tau2_fudge * tau2[k])
        ssnr[k] = torch.where(inside, model.tau2_fudge * tau2[k] * mean_weight, 0.0)
        references[k] = backprojector.reconstruct(tau2=prior.to(backprojector.weight.device)).cpu()
    if post_process is not None:
        references = post_process(references)
    distribution = weight / weight.sum().clamp_min(1e-30)
    class_shell = _class_resolution_shells(ssnr, weight)
    best = max(int(class_shell[weight > 0].max()) if bool((weight > 0).any()) else 0, options.min_resolution_shell)
    current_size = min(box, 2 * (best + options.incr_size))
    if options.highres_limit > 0:
        current_size = min(current_size, 2 * resolution_shell(options.highres_limit, box, model.pixel_size))
    completeness = (ssnr >= 1.0).float()
    new = replace(
        model,
        references=references,
        class_distribution=distribution,
        tau2=tau2,
        ssnr=ssnr,
        completeness=completeness,
        current_size=current_size,
        current_resolution=shell_resolution(best, box, model.pixel_size),
        class_resolution=torch.tensor([shell_resolution(int(s), box, model.pixel_size) for s in class_shell]),
        sigma2_class=sigma2_class,
    )
    if options.update_noise:
        new.sigma2_noise = _noise_spectra(model, stats)
    if options.update_scale:
        new.scale = _group_scales(model, stats)
    if options.update_sigma_offset and float(stats.offset_weight) > 0:
        dims = 2.0
        new.sigma_offset = math.sqrt(float(stats.offset_sq) / (dims * float(stats.offset_weight)))
    if options.update_norm:
        new.avg_norm = _update_norm(model, stats, state)
    new.group_counts = stats.group_count.cpu()
    return new


def _class_resolution_shells(ssnr: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per class the last shell ≥ 0 before the SSNR first falls below 1 (shell 0 = DC skipped)."""
    below = ssnr[:, 1:] < 1.0
    first = torch.where(below.any(dim=1), below.float().argmax(dim=1) + 1, torch.full_like(weight, ssnr.shape[1], dtype=torch.long))
    return torch.where(weight > 0, first - 1, torch.zeros_like(first))


def _noise_spectra(model: MlModel, stats: SufficientStatistics) -> torch.Tensor:
    """σ²(group, shell): expected residual inside the current size, image power beyond it."""
    box = model.box
    counts_inside = stats.pixels.shell_counts().double()
    inside = stats.pixels.shell_sums(stats.noise).cpu()  # (G, size//2)
    full = shell_index((box, box)).reshape(-1)
    counts_full = torch.bincount(full[full <= box // 2], minlength=box // 2 + 1).double()
    groups = stats.group_count.cpu()[:, None].clamp_min(1.0)
    sigma2 = stats.power.cpu() / (2.0 * groups * counts_full.clamp_min(1.0))
    n_in = inside.shape[1]
    sigma2[:, :n_in] = inside / (2.0 * groups * counts_inside.cpu().clamp_min(1.0))
    has_data = stats.group_count.cpu() > 0
    return torch.where(has_data[:, None], sigma2.float(), model.sigma2_noise)


def _group_scales(model: MlModel, stats: SufficientStatistics) -> torch.Tensor:
    """Intensity scales Σ XA / Σ AA per group, normalised to a particle-weighted mean of 1."""
    xa, aa = stats.scale_xa.cpu(), stats.scale_aa.cpu()
    counts = stats.group_count.cpu()
    scale = torch.where((aa > 0) & (counts > 0), xa / aa.clamp_min(1e-300), model.scale.double())
    mean = (scale * counts).sum() / counts.sum().clamp_min(1.0)
    return (scale / mean).float() if mean > 0 else model.scale


def _update_norm(model: MlModel, stats: SufficientStatistics, state: ParticleState) -> float:
    """RELION's norm correction: each particle's noise standard deviation from its expected
    residual, norm = (norm/avg_norm) · sqrt(Σ λ·residual / (N² Σ λ)); returns the new average."""
    pixel_weight = float(stats.pixels.likelihood_weight.sum())
    measured = stats.residual.cpu() / (model.box**2 * pixel_weight)
    updated = (state.norm / model.avg_norm) * torch.sqrt(measured.clamp_min(1e-30))
    state.norm.copy_(torch.where(measured > 0, updated, state.norm))
    return float(state.norm.mean())
