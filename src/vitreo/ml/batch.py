"""Particle images prepared for the E-step: centred, masked, normalised, in Fourier pixels.

For a batch of particles the image is shifted by +offset (so its centre moves to N//2), masked
with the soft particle mask (zeros or noise outside, as RELION's --zero_mask), multiplied by
avg_norm/norm (RELION's norm correction), Fourier transformed (unnormalised rfft) and reduced
to the likelihood pixels. CTFs include the group's intensity scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

import torch

from vitreo.em.ctf import ctf_2d, ctf_weights
from vitreo.em.fourier import shell_index, shift_phases
from vitreo.em.fsc import shell_sums
from vitreo.em.masks import apply_mask
from vitreo.ml.model import MlModel
from vitreo.ml.particles import ParticleSet
from vitreo.ml.pixels import FourierPixels


@dataclass(frozen=True)
class ImageOptions:
    """How images enter the likelihood: the particle mask (N, N) in [0, 1], what fills the outside
    (``"zero"`` or ``"noise"``), CTF correction, and RELION's ignore-CTF-until-first-peak."""

    mask: torch.Tensor
    background: Literal["zero", "noise"] = "zero"
    do_ctf: bool = True
    intact_first_peak: bool = False


@dataclass(frozen=True)
class ExperimentalBatch:
    """B prepared particles on F pixels.

    ``data`` (B, F) complex X; ``ctf_model`` (B, F) the factor on a projection P in the model
    X ≈ ctf_model·P; ``ctf_data`` (B, F) the factor on X for back-projection;
    ``ctf_weight`` (B, F) the back-projected weight; ``inv_sigma2`` (B, F) 1/σ² of the group;
    ``lik_inv_sigma2`` (B, F) the same times the pixel's likelihood weight; ``scale`` (B,) the
    group's intensity scale (included in the CTF factors); ``offsets`` (B, 2) pixels; ``power_shells``
    (B, N//2+1) Σ|X|² per shell over the whole half-plane; ``data_term`` (B,) Σ λ|X|²/(2σ²) and
    ``log_norm`` (B,) −Σ λ·log(2πσ²), the parts of log p(X) that do not depend on the hypothesis.
    """

    ids: torch.Tensor
    data: torch.Tensor
    ctf_model: torch.Tensor
    ctf_data: torch.Tensor
    ctf_weight: torch.Tensor
    inv_sigma2: torch.Tensor
    lik_inv_sigma2: torch.Tensor
    group: torch.Tensor
    scale: torch.Tensor
    offsets: torch.Tensor
    power_shells: torch.Tensor
    data_term: torch.Tensor
    log_norm: torch.Tensor

    def __len__(self) -> int:
        return self.ids.shape[0]

    def select(self, rows: torch.Tensor) -> ExperimentalBatch:
        """The particles at ``rows`` (indices into the batch)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return ExperimentalBatch(**{name: value[rows] for name, value in values.items()})


def prepare_batch(
    particles: ParticleSet,
    ids: torch.Tensor,
    offsets: torch.Tensor,
    norm: torch.Tensor,
    model: MlModel,
    pixels: FourierPixels,
    options: ImageOptions,
    generator: torch.Generator | None = None,
) -> ExperimentalBatch:
    """Prepare particles ``ids`` (B,) at ``offsets`` (B, 2) pixels with norm corrections (B,)."""
    device = pixels.index.device
    box = particles.box
    shape = (box, box)
    images = particles.images[ids.cpu()].to(device=device, dtype=torch.float32)
    offsets = offsets.to(device=device, dtype=torch.float64)
    spectra = torch.fft.rfft2(images) * shift_phases(offsets, shape).to(torch.complex64)
    images = apply_mask(torch.fft.irfft2(spectra, s=shape), options.mask.to(device), options.background, generator)
    factor = (model.avg_norm / norm.to(device=device, dtype=torch.float64)).to(torch.float32)
    spectra = torch.fft.rfft2(images) * factor[:, None, None]
    group = particles.groups[ids.cpu()].to(device)
    scale = model.scale.to(device=device, dtype=torch.float32)[group]
    shells = pixels.shell
    inv_sigma2 = 1.0 / model.sigma2_noise.to(device=device, dtype=torch.float32)[group][:, shells].clamp_min(1e-30)
    lik_inv_sigma2 = inv_sigma2 * pixels.likelihood_weight
    data = pixels.gather(spectra)
    if particles.ctf is not None and options.do_ctf:
        ctf = ctf_2d(
            particles.ctf[ids.cpu()].to(device),
            box,
            particles.pixel_size,
            absolute=particles.ctf_phase_flipped,
            ignore_until_first_peak=options.intact_first_peak,
        )
        factors = ctf_weights(pixels.gather(ctf), particles.ctf_premultiplied)
        ctf_model, ctf_data, ctf_weight = factors.model, factors.data, factors.weight
    else:
        ctf_model = ctf_data = ctf_weight = torch.ones(len(ids), len(pixels), device=device)
    if ctf_data is None:  # CTF-premultiplied images are back-projected as they are
        ctf_data = torch.ones_like(ctf_model)
    ctf_model = ctf_model * scale[:, None]
    ctf_data = ctf_data * scale[:, None]
    ctf_weight = ctf_weight * (scale * scale)[:, None]
    power = data.real.square() + data.imag.square()
    power_shells = shell_sums(spectra.real.square() + spectra.imag.square(), shell_index(shape, device), box // 2 + 1)
    weight = pixels.likelihood_weight
    sigma2 = model.sigma2_noise.to(device=device, dtype=torch.float64)[group][:, shells].clamp_min(1e-30)
    return ExperimentalBatch(
        ids=ids.to(device),
        data=data,
        ctf_model=ctf_model,
        ctf_data=ctf_data,
        ctf_weight=ctf_weight,
        inv_sigma2=inv_sigma2,
        lik_inv_sigma2=lik_inv_sigma2,
        group=group,
        scale=scale,
        offsets=offsets,
        power_shells=power_shells,
        data_term=0.5 * (power * lik_inv_sigma2).double().sum(-1),
        log_norm=-(weight.double() * torch.log(2.0 * math.pi * sigma2)).sum(-1),
    )
