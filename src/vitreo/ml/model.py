"""The parameters the expectation-maximisation iterations refine (RELION's MlModel) and the
per-particle alignment they produce (RELION's exp_metadata).

Units (vitreo's, converted to RELION's only when files are written, see ``ml.files``):
Fourier values are those of the unnormalised rfft of an N-pixel image (N×N) — ``sigma2_noise``
and ``tau2`` are variances per real/imaginary component, E|F|²/2, per shell 0 … N/2; offsets are
in pixels, (x, y); angles in radians.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass
class MlModel:
    """References, noise, priors and resolution after an iteration.

    ``references`` (K, N, N) images or (K, N, N, N) maps, centre at N//2; ``class_distribution``
    (K,) summing to 1; ``sigma2_noise`` (G, N//2+1) per group; ``scale`` (G,) intensity scale per
    group; ``tau2`` (K, N//2+1) the signal power of each class (see ``ml.maximisation``);
    ``ssnr`` (K, N//2+1) RELION's data_vs_prior (T·tau²·mean CTF²/σ² weight); ``completeness``
    (K, N//2+1) 1 where a shell's SSNR ≥ 1, else 0 (a per-shell stand-in for RELION's fraction of
    voxels); ``sigma_offset`` pixels; ``current_size`` the image size (pixels) the next E-step
    uses; ``current_resolution`` Å.
    """

    references: torch.Tensor
    class_distribution: torch.Tensor
    sigma2_noise: torch.Tensor
    scale: torch.Tensor
    tau2: torch.Tensor
    ssnr: torch.Tensor
    completeness: torch.Tensor
    pixel_size: float
    tau2_fudge: float
    sigma_offset: float
    current_size: int
    current_resolution: float
    avg_norm: float = 1.0
    log_likelihood: float = 0.0
    avg_pmax: float = 0.0
    class_resolution: torch.Tensor | None = None  # (K,) Å
    accuracy_rotations: torch.Tensor | None = None  # (K,) degrees
    accuracy_translations: torch.Tensor | None = None  # (K,) pixels
    group_counts: torch.Tensor | None = None  # (G,) particles per group
    sigma2_class: torch.Tensor | None = None  # (K, N//2+1) 1/⟨Σ c²/σ²⟩: the noise power of each class

    @property
    def n_classes(self) -> int:
        return self.references.shape[0]

    @property
    def box(self) -> int:
        return self.references.shape[-1]

    @property
    def ndim(self) -> int:
        return self.references.dim() - 1

    @property
    def n_groups(self) -> int:
        return self.sigma2_noise.shape[0]

    def copy(self) -> MlModel:
        return replace(self)


@dataclass
class ParticleState:
    """Each particle's current best hypothesis and diagnostics (n particles).

    ``class_index`` (n,) int64, 0-based; ``angles`` (n, 3) radians (rot, tilt, psi); ``offsets``
    (n, 2) pixels: the particle centre lies at (N//2 − offset); ``norm`` (n,) RELION's
    rlnNormCorrection (the image is scaled by avg_norm/norm before comparison); ``pmax`` the
    largest posterior probability; ``n_significant`` the number of coarse hypotheses holding the
    adaptive fraction of the posterior; ``log_likelihood`` log p(X_i | model).
    """

    class_index: torch.Tensor
    angles: torch.Tensor
    offsets: torch.Tensor
    norm: torch.Tensor
    pmax: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    n_significant: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    log_likelihood: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.float64))

    @classmethod
    def initial(cls, offsets: torch.Tensor, norm: torch.Tensor | None = None,
                angles: torch.Tensor | None = None) -> ParticleState:
        """Particles at the given offsets (n, 2) pixels, unaligned or at the given ``angles`` (n, 3) radians."""
        n = offsets.shape[0]
        return cls(
            class_index=torch.zeros(n, dtype=torch.long),
            angles=torch.zeros(n, 3, dtype=torch.float64) if angles is None else angles.double().clone(),
            offsets=offsets.double().clone(),
            norm=torch.ones(n, dtype=torch.float64) if norm is None else norm.double().clone(),
            pmax=torch.zeros(n, dtype=torch.float64),
            n_significant=torch.zeros(n, dtype=torch.long),
            log_likelihood=torch.zeros(n, dtype=torch.float64),
        )

    def __len__(self) -> int:
        return self.class_index.shape[0]

    def copy(self) -> ParticleState:
        return ParticleState(**{name: value.clone() for name, value in self.__dict__.items()})
