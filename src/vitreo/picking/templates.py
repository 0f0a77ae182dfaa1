"""Picking templates: references turned, masked and resampled once, then put on each micrograph's work grid.

A :class:`TemplateBank` holds every reference at every in-plane angle psi (RELION's
``--ang``: 360/round(360/step) degrees apart) as small real-space images at a pixel size at
most the work pixel size, centred at b//2 and masked with a soft circle of the mask diameter.
psi follows RELION: the template for psi is the reference transformed by A = Rz(psi),
out(r) = ref(Aᵀr).

:func:`template_spectra` evaluates their discrete Fourier transforms directly at the
frequencies of the work grid (a "zoom" DFT as two matrix products, exact and far cheaper than
padding every template to the micrograph size), giving transforms of templates centred at pixel
(0, 0) of the work grid. :func:`template_transfer` is the micrograph's CTF (optionally intact
until its first peak) times a low-pass filter, which the correlation applies on the micrograph's
side; :func:`template_norms` gives the templates' energies after it without any big transform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vitreo.em.ctf import CtfParams, ctf_2d
from vitreo.em.filters import lowpass_response
from vitreo.em.fourier import rescale, rotate_rfft
from vitreo.em.masks import soft_spherical_mask
from vitreo.picking.fft import hermitian_weights
from vitreo.picking.references import References
from vitreo.picking.work_grid import WorkGrid

MASK_EDGE_PX = 3.0


@dataclass(frozen=True)
class TemplateBank:
    """Templates (T, b, b) at ``pixel_size`` Å, each from reference ``reference[t]`` at ``psi[t]`` degrees."""

    images: torch.Tensor
    pixel_size: float
    reference: torch.Tensor
    psi: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])


def psi_angles_deg(step: float) -> torch.Tensor:
    """In-plane angles 0, s, 2s, … (degrees) with s = 360/round(360/step), as RELION's autopicker."""
    if step <= 0:
        raise ValueError(f"the in-plane angular sampling must be positive, not {step}")
    count = max(1, int(round(360.0 / step)))
    return torch.arange(count, dtype=torch.float64) * (360.0 / count)


def make_template_bank(references: References, work_pixel_size: float, psi_step: float,
                       mask_diameter: float) -> TemplateBank:
    """Resample references to ≤ ``work_pixel_size`` Å, crop to the mask, mask (``mask_diameter`` Å) and turn."""
    images, pixel = references.images.to(torch.float32), references.pixel_size
    box = references.box
    target = math.ceil(box * pixel / work_pixel_size)
    target += target % 2
    if target < box:
        images = rescale(images, (target, target))
        pixel = pixel * box / target
        box = target
    radius = 0.5 * mask_diameter / pixel
    keep = min(box, 2 * math.ceil(radius + MASK_EDGE_PX + 1))
    start = box // 2 - keep // 2
    images = images[:, start : start + keep, start : start + keep]
    images = images * soft_spherical_mask((keep, keep), radius, MASK_EDGE_PX)
    psi = psi_angles_deg(psi_step)
    n_refs, n_psi = images.shape[0], psi.numel()
    spectra = torch.fft.rfft2(images).repeat_interleave(n_psi, dim=0)
    angles = -torch.deg2rad(psi).to(torch.float32).repeat(n_refs)  # rotate_rfft turns by +θ; RELION's A by −psi
    turned = torch.fft.irfft2(rotate_rfft(spectra, angles), s=(keep, keep))
    reference = torch.arange(n_refs).repeat_interleave(n_psi)
    return TemplateBank(turned.contiguous(), pixel, reference, psi.repeat(n_refs))


def _phases(b: int, step: float, size: int, sign: float) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(sign·2πi k·(u − b//2)·step/size) for k on the rfft grid: along y (size, b) and x (b, size//2+1)."""
    u = (torch.arange(b, dtype=torch.float64) - b // 2) * (sign * 2 * math.pi * step / size)
    ky = torch.fft.fftfreq(size, 1.0 / size, dtype=torch.float64)
    kx = torch.arange(size // 2 + 1, dtype=torch.float64)
    return torch.polar(torch.ones(size, b, dtype=torch.float64), ky[:, None] * u[None, :]), \
        torch.polar(torch.ones(b, kx.numel(), dtype=torch.float64), u[:, None] * kx[None, :])


def zoom_rfft2(images: torch.Tensor, step: float, size: int, conjugate: bool = False) -> torch.Tensor:
    """F(k) = Σ_u image(u) exp(∓2πi k·(u − b//2)·step/size) on the rfft grid (size, size//2+1) of k.

    ``images`` (T, b, b) real; ``step`` is the image pixel in units of the output grid's pixels;
    ``conjugate`` gives the complex conjugate (the + sign). Two batched matrix products (x, then y).
    Returns (T, size, size//2+1) complex.
    """
    complex_dtype = torch.complex64 if images.dtype == torch.float32 else torch.complex128
    along_y, along_x = (e.to(dtype=complex_dtype, device=images.device)
                        for e in _phases(images.shape[-1], step, size, 1.0 if conjugate else -1.0))
    return torch.matmul(along_y, images.to(complex_dtype) @ along_x)


def template_energies(images: torch.Tensor, step: float, size: int, power: torch.Tensor) -> torch.Tensor:
    """Σ_k power(k)·|F(k)|² over the rfft grid for F = zoom_rfft2(images, step, size): (T,).

    Exact and cheap: Σ_d A(d)·K(d) with A the templates' autocorrelations (b-pixel offsets d) and
    K(d) = Re Σ_k power(k) exp(2πi k·d·step/size), so no transform on the big grid is needed.
    """
    b = images.shape[-1]
    span = 2 * b
    offsets = torch.arange(-(b - 1), b, dtype=torch.float64)
    ky = torch.fft.fftfreq(size, 1.0 / size, dtype=torch.float64)
    kx = torch.arange(size // 2 + 1, dtype=torch.float64)
    scale = 2 * math.pi * step / size
    along_y = torch.polar(torch.ones(offsets.numel(), size, dtype=torch.float64), scale * offsets[:, None] * ky[None, :])
    along_x = torch.polar(torch.ones(kx.numel(), offsets.numel(), dtype=torch.float64), scale * kx[:, None] * offsets[None, :])
    kernel = (along_y @ power.to(torch.complex128).cpu() @ along_x).real  # K(dy, dx), (2b−1, 2b−1)
    spectra = torch.fft.rfft2(images.double(), s=(span, span))
    autocorrelation = torch.fft.irfft2(spectra.abs().square(), s=(span, span))
    index = (offsets.long() % span)
    autocorrelation = autocorrelation[:, index[:, None], index[None, :]]  # A(dy, dx) at the same offsets
    return (autocorrelation * kernel.to(autocorrelation.device)).sum((-2, -1)).to(images.dtype)


def template_transfer(grid: WorkGrid, lowpass: float, ctf: CtfParams | None = None,
                      ignore_until_first_peak: bool = False) -> torch.Tensor:
    """Low-pass (``lowpass`` Å, ≤ 0: none) times the CTF on the work grid's rfft: (W, W//2+1)."""
    shape = (grid.work_size, grid.work_size)
    transfer = torch.ones(grid.work_size, grid.work_size // 2 + 1)
    if lowpass > 0:
        transfer = transfer * lowpass_response(shape, lowpass, grid.work_pixel_size)
    if ctf is not None:
        transfer = transfer * ctf_2d(ctf.to("cpu"), grid.work_size, grid.work_pixel_size,
                                     ignore_until_first_peak=ignore_until_first_peak)[0].float()
    return transfer


def template_spectra(images: torch.Tensor, pixel_size: float, grid: WorkGrid, conjugate: bool = False) -> torch.Tensor:
    """Transforms (t, W, W//2+1) of templates (t, b, b) at ``pixel_size`` Å on the work grid, centred
    at (0, 0), in the units of the shrunk micrograph's pixels (conjugates with ``conjugate``)."""
    ratio = pixel_size / grid.work_pixel_size
    return zoom_rfft2(images * ratio**2, ratio, grid.work_size, conjugate)


def template_norms(bank: TemplateBank, grid: WorkGrid, transfer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ A², Σ A) per template (T,) of the templates on the work grid after ``transfer``."""
    ratio = bank.pixel_size / grid.work_pixel_size
    size = grid.work_size
    power = transfer.cpu().double().square() * hermitian_weights(size, dtype=torch.float64) / size**2
    energy = template_energies(bank.images.cpu(), ratio, size, power) * ratio**4
    total = bank.images.sum((-2, -1)).cpu() * ratio**2 * float(transfer[0, 0])
    return energy, total


__all__ = ["MASK_EDGE_PX", "TemplateBank", "psi_angles_deg", "make_template_bank", "zoom_rfft2", "template_energies",
           "template_transfer", "template_spectra", "template_norms"]
