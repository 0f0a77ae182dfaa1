"""Figure-of-merit maps: every template correlated with the micrograph at every position at once.

For a template A (CTF-applied, low-passed, on the work grid) and the shrunk normalised
micrograph X with local background mean μ(t) and standard deviation σ(t) (full resolution,
RELION's background ring), the cross term of RELION's squared difference is

    c(t) = Σ_v (X(t + v) − μ(t)) A(v),

computed for batches of templates (references × in-plane angles) by FFTs. The figure of merit
is its signal-to-noise ratio against white background noise of standard deviation σ(t):

    FOM(t) = c(t) / (σ(t) · √(s² Σ_v A(v)² + (Σ_v A(v))² / n)),    s = W/N (the shrink factor),

with n the pixels of the background ring (the second term is the noise of μ). It is N(0, 1) on
pure noise, so thresholds read as significance. It is the probability ratio
of RELION's picker with the template's grey scale fitted at every position: the log ratio of
P(template + noise) to P(background) is FOM²/2 at the best grey scale, so the FOM does not
depend on the references' absolute grey scale. σ is floored at half its median over the
micrograph, so opaque areas (σ ≈ 0) do not produce huge values. Maps keep the best FOM over
all templates at every work pixel, with its psi and reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vitreo.picking.fft import irfft2
from vitreo.picking.micrograph import PreparedMicrograph
from vitreo.picking.templates import TemplateBank, template_norms, template_spectra

#: Templates correlated per batch: bounds memory to about chunk × W² × 16 bytes.
TEMPLATE_CHUNK = 24
SIGMA_FLOOR = 0.5  # σ is at least this fraction of its median over the micrograph


@dataclass(frozen=True)
class FomMaps:
    """Best FOM (W, W), its psi (degrees) and 0-based reference, and the local background
    statistics (W, W), all on the work grid."""

    fom: torch.Tensor
    psi: torch.Tensor
    reference: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


def fom_maps(micrograph: PreparedMicrograph, bank: TemplateBank, transfer: torch.Tensor,
             chunk: int = TEMPLATE_CHUNK) -> FomMaps:
    """The best FOM over all templates of ``bank`` at every work pixel (see the module docstring).

    ``transfer`` (W, W//2+1) is the low-pass × CTF the templates get (:func:`templates.template_transfer`).
    """
    grid = micrograph.grid
    size = grid.work_size
    device = micrograph.spectrum.device
    transfer = transfer.to(device)
    filtered = micrograph.spectrum * transfer  # X·H: the transfer moved onto the micrograph
    energy, total = template_norms(bank, grid, transfer)
    norm = torch.rsqrt((grid.scale**2 * energy + total.square() / micrograph.ring_pixels).clamp_min(1e-30)).to(device)
    offsets = (total.to(device) * norm)[:, None, None]  # the local-mean term per template
    images = bank.images.to(device) * norm[:, None, None]
    best = torch.full((size, size), -torch.inf, device=device)
    which = torch.zeros((size, size), dtype=torch.long, device=device)
    for start in range(0, len(bank), chunk):
        rows = slice(start, min(start + chunk, len(bank)))
        spectra = template_spectra(images[rows], bank.pixel_size, grid, conjugate=True)
        score = irfft2(spectra.mul_(filtered), (size, size))
        score.addcmul_(micrograph.mean.expand_as(score), offsets[rows].expand_as(score), value=-1.0)
        value, index = score.max(0)
        better = value > best
        torch.maximum(best, value, out=best)
        torch.where(better, index + start, which, out=which)
    std = micrograph.std
    noise = std.clamp_min(SIGMA_FLOOR * float(std.median()))
    return FomMaps(best / noise, bank.psi.to(device)[which].float(), bank.reference.to(device)[which],
                   micrograph.mean, std)


__all__ = ["TEMPLATE_CHUNK", "SIGMA_FLOOR", "FomMaps", "fom_maps"]
