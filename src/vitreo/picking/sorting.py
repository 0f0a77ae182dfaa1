"""Particle sorting: how far each particle is from its aligned, CTF-corrected reference
(rlnParticleSelectZScore, as RELION's relion_particle_sort).

For every particle the reference it was picked or classified with, turned by its psi (RELION's
A = Rz(psi), out(r) = ref(Aᵀr)) and with the particle's CTF applied, is aligned to the image by
normalised cross-correlation over in-plane shifts within ``max_shift`` pixels of the particle's
origin and over psi ± one step (over all references and angles when they are not known), at
``align_lowpass`` Å. The aligned reference, scaled by the grey scale of the whole set (the median
of the per-particle least-squares scales inside the particle mask), is subtracted from the image,
both low-passed to ``lowpass`` Å, and the standard deviation of the difference inside the mask
measures the misfit. Its robust Z-score over all particles ((value − median) / (1.4826 × MAD)) is
the particle's score: high means unlike its reference (junk, aggregates, broken particles, ice),
low means typical.

RELION averages the positive Z-scores of six statistics of the difference (mean, standard
deviation, skewness, kurtosis, quadrant spread, rotational asymmetry of its power spectrum); on
simulated junk (aggregates, broken particles, ice, amorphous blobs) the standard deviation at
60 Å alone separates junk better (ROC AUC 0.92 against 0.85 on 225 junk objects among 1,425
objects; adding the fitted grey scale did not help), so vitreo uses it alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vitreo.em.ctf import CtfParams, ctf_2d
from vitreo.em.filters import lowpass_response
from vitreo.em.fourier import phase_shift, rotate_rfft
from vitreo.em.masks import centred_radius
from vitreo.picking.fft import real_energy
from vitreo.picking.templates import psi_angles_deg

CHUNK_ELEMENTS = 1 << 24  # candidate correlation values held at once (64 MB of float32)
PARTICLE_CHUNK = 512  # particles aligned and measured at once


@dataclass(frozen=True)
class SortSettings:
    """``mask_radius`` px; ``lowpass`` Å of the difference and ``align_lowpass`` Å of the alignment
    (≤ 0: none); CTF use; ``psi_step`` degrees of the reference turns; ``max_shift`` px searched
    around each particle's origin."""

    mask_radius: float
    lowpass: float = 60.0
    align_lowpass: float = 20.0
    use_ctf: bool = True
    ignore_first_peak: bool = False
    psi_step: float = 5.0
    max_shift: float = 5.0


@dataclass(frozen=True)
class SortResult:
    """Per particle: Z-score (n,), the standard deviation of its difference (n,), and the reference
    (0-based) and psi (degrees) it was aligned with."""

    zscore: np.ndarray
    misfit: np.ndarray
    reference: np.ndarray
    psi: np.ndarray


def turned_references(references: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """rfft (R, P, N, N//2+1) of references (R, N, N) turned by each psi (P,) degrees, RELION's sense."""
    n_refs, box = references.shape[0], references.shape[-1]
    spectra = torch.fft.rfft2(references.float()).repeat_interleave(psi.numel(), 0)
    angles = -torch.deg2rad(psi.float()).repeat(n_refs)
    return rotate_rfft(spectra, angles).reshape(n_refs, psi.numel(), box, box // 2 + 1)


def shift_grid(max_shift: float) -> torch.Tensor:
    """Integer shifts (S, 2) = (dx, dy) with |shift| ≤ max_shift pixels."""
    steps = int(math.floor(max_shift))
    axis = torch.arange(-steps, steps + 1)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)
    return grid[(grid.square().sum(-1) <= max_shift**2 + 1e-6)]


def align(images: torch.Tensor, bank: torch.Tensor, candidates: torch.Tensor, filters: torch.Tensor,
          origins: torch.Tensor, max_shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Best candidate (n,) and shift (n, 2) = (dx, dy) px of each image (n, N, N).

    ``bank`` (C, N, N//2+1) holds turned references; ``candidates`` (n, K) the bank rows each
    image may match; ``filters`` (n, N, N//2+1) the CTF × low-pass per image. The model shifted by
    the returned shift matches the image; shifts are searched within ``max_shift`` of −origin.
    """
    n, box = images.shape[0], images.shape[-1]
    spectra = torch.fft.rfft2(images.float())
    offsets = shift_grid(max_shift)
    best_candidate = torch.zeros(n, dtype=torch.long)
    best_shift = torch.zeros(n, 2)
    per_image = candidates.shape[1] * box * box
    step = max(1, CHUNK_ELEMENTS // per_image)
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        models = bank[candidates[rows]] * filters[rows, None]  # (m, K, N, H)
        energy = real_energy(models, box).clamp_min(1e-30)
        ccf = torch.fft.irfft2(spectra[rows, None] * models.conj(), s=(box, box)) / energy.sqrt()[..., None, None]
        centre = torch.round(-origins[rows]).long()  # (m, 2) expected (dx, dy)
        shifts = centre[:, None, :] + offsets[None]  # (m, S, 2)
        values = _gather(ccf, shifts, box)
        flat = values.reshape(values.shape[0], -1)
        index = flat.argmax(-1)
        k, s = index // offsets.shape[0], index % offsets.shape[0]
        chosen = torch.arange(values.shape[0])
        best_candidate[rows] = candidates[rows][chosen, k]
        best_shift[rows] = shifts[chosen, s].float()
    return best_candidate, best_shift


def _gather(ccf: torch.Tensor, shifts: torch.Tensor, box: int) -> torch.Tensor:
    """ccf (m, K, N, N) read at per-image shifts (m, S, 2) = (dx, dy), periodic: (m, K, S)."""
    m = ccf.shape[0]
    flat = ccf.reshape(m, ccf.shape[1], box * box)
    index = ((shifts[..., 1] % box) * box + shifts[..., 0] % box)[:, None, :].expand(-1, ccf.shape[1], -1)
    return torch.gather(flat, 2, index)


def masked_sums(images: torch.Tensor, models: torch.Tensor, mask_radius: float) -> torch.Tensor:
    """Per image (n, 6): pixel count, Σx, Σm, Σx², Σxm, Σm² over the mask (x image, m model)."""
    box = images.shape[-1]
    inside = centred_radius((box, box)) < mask_radius
    x, m = images[:, inside].double(), models[:, inside].double()
    count = torch.full((x.shape[0],), float(inside.sum()), dtype=torch.float64)
    return torch.stack([count, x.sum(-1), m.sum(-1), x.square().sum(-1), (x * m).sum(-1), m.square().sum(-1)], -1)


def difference_std(sums: torch.Tensor) -> torch.Tensor:
    """Standard deviation (n,) of image − g·model in the mask from :func:`masked_sums`, with g the
    median over images of the least-squares scales Σxm/Σm² (the set's grey scale)."""
    count, sx, sm, sxx, sxm, smm = sums.unbind(-1)
    g = (sxm / smm.clamp_min(1e-30)).median().clamp_min(0.0)
    mean = (sx - g * sm) / count
    return ((sxx - 2 * g * sxm + g * g * smm) / count - mean.square()).clamp_min(0.0).sqrt()


def robust_zscores(values: torch.Tensor) -> torch.Tensor:
    """(values − median) / (1.4826 × median absolute deviation): Z-scores that junk does not inflate."""
    median = values.median()
    spread = 1.4826 * (values - median).abs().median()
    return (values - median) / spread.clamp_min(1e-30)


def sort_particles(images: torch.Tensor, references: torch.Tensor, pixel_size: float, reference: np.ndarray,
                   psi: np.ndarray, origins: np.ndarray, ctf: CtfParams | None, settings: SortSettings,
                   chunk: int = PARTICLE_CHUNK) -> SortResult:
    """Z-scores of particles (n, N, N) against references (R, N, N) at ``pixel_size`` Å.

    ``reference`` (n,) 0-based index or −1 when unknown; ``psi`` (n,) degrees (NaN when unknown);
    ``origins`` (n, 2) px (rlnOriginX/Y over the pixel size). Particles are processed ``chunk`` at a time.
    """
    n, box = images.shape[0], images.shape[-1]
    angles = psi_angles_deg(settings.psi_step)
    bank = turned_references(references, angles)
    n_refs, n_psi = bank.shape[0], bank.shape[1]
    bank = bank.reshape(n_refs * n_psi, box, box // 2 + 1)
    known = (reference >= 0) & (reference < n_refs) & np.isfinite(psi)
    align_band = _lowpass(settings.align_lowpass, box, pixel_size)
    band = _lowpass(settings.lowpass, box, pixel_size)
    chosen = torch.zeros(n, dtype=torch.long)
    sums = torch.zeros(n, 6, dtype=torch.float64)
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(n, start + chunk))
        ctf_grid = torch.ones(len(rows), box, box // 2 + 1)
        if ctf is not None and settings.use_ctf:
            ctf_grid = ctf_2d(ctf[rows], box, pixel_size, ignore_until_first_peak=settings.ignore_first_peak).float()
        shifts = torch.zeros(len(rows), 2)
        for group in (np.flatnonzero(known[rows.numpy()]), np.flatnonzero(~known[rows.numpy()])):
            if not len(group):
                continue
            part = rows[group]
            candidates = _candidates(reference[part.numpy()], psi[part.numpy()], n_psi) if known[part[0]] \
                else torch.arange(n_refs * n_psi).expand(len(part), -1)
            chosen[part], shifts[group] = align(images[part], bank, candidates, ctf_grid[group] * align_band,
                                                torch.as_tensor(origins[part.numpy()], dtype=torch.float32),
                                                settings.max_shift)
        models = torch.fft.irfft2(phase_shift(bank[chosen[rows]] * ctf_grid * band, shifts, (box, box)), s=(box, box))
        smoothed = torch.fft.irfft2(torch.fft.rfft2(images[rows].float()) * band, s=(box, box))
        sums[rows] = masked_sums(smoothed, models, settings.mask_radius)
    misfit = difference_std(sums)
    return SortResult(robust_zscores(misfit).numpy(), misfit.numpy(), (chosen // n_psi).numpy(),
                      angles[chosen % n_psi].numpy())


def _lowpass(resolution: float, box: int, pixel_size: float) -> torch.Tensor:
    if resolution <= 0:
        return torch.ones(box, box // 2 + 1)
    return lowpass_response((box, box), resolution, pixel_size)


def _candidates(reference: np.ndarray, psi: np.ndarray, n_psi: int) -> torch.Tensor:
    """Bank rows (n, 3) of each particle's reference at the turn nearest its psi and the two beside it."""
    nearest = np.rint(psi * n_psi / 360.0).astype(np.int64)
    return torch.from_numpy(reference[:, None] * n_psi + (nearest[:, None] + np.array([-1, 0, 1])) % n_psi)


__all__ = ["PARTICLE_CHUNK", "SortSettings", "SortResult", "turned_references", "shift_grid", "align", "masked_sums",
           "difference_std", "robust_zscores", "sort_particles"]
