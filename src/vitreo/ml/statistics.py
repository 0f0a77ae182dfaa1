"""Weighted sums over particles and hypotheses that the M-step needs (RELION's wsum_model).

For each (particle, reference) pair with weights w_t over shifts φ_t, U = Σ_t w_t φ_t gives
every shift-summed quantity on the pixels at once (a real GEMM (pairs × T)·(T × 2F)):

- back-projection data Σ w · c_d X φ_t / σ² = c_d X U / σ² and weight Σ w · c_w / σ²;
- the expected residual Σ w |X φ_t − c P|² = Σw |X|² − 2 Re(X conj(c P) U) + Σw c²|P|² per
  pixel, summed per group (noise spectra) and per particle (norm correction);
- per group Σ w Re(X conj(c P)) and Σ w c²|P|² (intensity scale), with c excluding the scale.
"""

from __future__ import annotations

import torch

from vitreo.em.backprojector import BackProjector
from vitreo.ml.batch import ExperimentalBatch
from vitreo.ml.pixels import FourierPixels
from vitreo.ml.posterior import segment_sum
from vitreo.ml.scoring import PAIR_CHUNK_ELEMENTS, GemmTimer

_F64 = torch.float64


class SufficientStatistics:
    """Accumulators for one iteration: K back-projectors plus noise, scale, norm, prior and offset sums."""

    def __init__(
        self,
        n_classes: int,
        ndim: int,
        box: int,
        pixels: FourierPixels,
        n_groups: int,
        n_particles: int,
        padding: float = 2.0,
        device: torch.device | str | None = None,
    ) -> None:
        self.pixels = pixels
        self.box = box
        self.backprojectors = [BackProjector(box, ndim, padding, device) for _ in range(n_classes)]
        n_pix, n_shells = len(pixels), box // 2 + 1
        self.noise = torch.zeros(n_groups, n_pix, dtype=_F64, device=device)
        self.power = torch.zeros(n_groups, n_shells, dtype=_F64, device=device)
        self.group_count = torch.zeros(n_groups, dtype=_F64, device=device)
        self.scale_xa = torch.zeros(n_groups, dtype=_F64, device=device)
        self.scale_aa = torch.zeros(n_groups, dtype=_F64, device=device)
        self.class_weight = torch.zeros(n_classes, dtype=_F64, device=device)
        self.residual = torch.zeros(n_particles, dtype=_F64, device=device)
        self.offset_sq = torch.zeros((), dtype=_F64, device=device)
        self.offset_weight = torch.zeros((), dtype=_F64, device=device)

    def add(
        self,
        batch: ExperimentalBatch,
        pair_particle: torch.Tensor,
        pair_reference: torch.Tensor,
        weights: torch.Tensor,
        projections: torch.Tensor,
        references: tuple[torch.Tensor, torch.Tensor],
        shifts: torch.Tensor,
        phases: torch.Tensor,
        timer: GemmTimer,
    ) -> None:
        """Add a batch's pairs.

        ``pair_particle`` (P,) into the batch; ``pair_reference`` (P,) into the U distinct
        references of the batch, whose ``projections`` (U, F) complex, classes and rotations
        ``references`` = ((U,), (U, D, D)) are given; ``weights`` (P, T) over ``shifts`` (T, 2)
        pixels relative to the batch offsets, with ``phases`` (T, F).
        """
        device = self.noise.device
        n_pix = len(self.pixels)
        n_ref = projections.shape[0]
        data = torch.zeros(n_ref, n_pix, dtype=torch.complex64, device=device)
        weight = torch.zeros(n_ref, n_pix, device=device)
        phase_matrix = torch.cat([phases.real, phases.imag], dim=-1)  # (T, 2F)
        lik = self.pixels.likelihood_weight > 0
        group = batch.group
        step = max(1, PAIR_CHUNK_ELEMENTS // max(1, n_pix))
        for start in range(0, pair_particle.shape[0], step):
            part = slice(start, start + step)
            who, ref_id, w = pair_particle[part], pair_reference[part], weights[part]
            total = w.sum(dim=1)
            u = timer.matmul(w, phase_matrix)
            u = torch.complex(u[:, :n_pix], u[:, n_pix:])
            x = batch.data[who]
            inv_sigma2 = batch.inv_sigma2[who]
            x_data = x if batch.ctf_data is None else x * batch.ctf_data[who]
            data.index_add_(0, ref_id, x_data * inv_sigma2 * u)
            weight.index_add_(0, ref_id, batch.ctf_weight[who] * inv_sigma2 * total[:, None])
            model = batch.ctf_model[who] * projections[ref_id]
            cross = (x * model.conj() * u).real
            model_power = (model.real.square() + model.imag.square()) * total[:, None]
            data_power = (x.real.square() + x.imag.square()) * total[:, None]
            residual = data_power - 2.0 * cross + model_power
            self.noise.index_add_(0, group[who], residual.double())
            self.residual.index_add_(0, batch.ids[who], (residual * self.pixels.likelihood_weight).sum(1).double())
            s = batch.scale[who]
            self.scale_xa.index_add_(0, group[who], (cross[:, lik].sum(1) / s).double())
            self.scale_aa.index_add_(0, group[who], (model_power[:, lik].sum(1) / (s * s)).double())
        classes, rotations = references
        self.class_weight.index_add_(0, classes, segment_sum(weights.double(), pair_reference, n_ref))
        self._insert(data, weight, classes, rotations)
        absolute = batch.offsets[:, None, :] + shifts[None].to(batch.offsets)  # (B, T, 2)
        sq = absolute.square().sum(-1)  # (B, T)
        self.offset_sq += (weights.double() * sq[pair_particle]).sum()
        self.offset_weight += weights.double().sum()
        self.power.index_add_(0, group, batch.power_shells.double())
        self.group_count.index_add_(0, group, torch.ones_like(group, dtype=_F64))

    def _insert(self, data: torch.Tensor, weight: torch.Tensor, classes: torch.Tensor, rotations: torch.Tensor) -> None:
        size = self.pixels.size
        for k in torch.unique(classes).tolist():
            chosen = torch.nonzero(classes == k).squeeze(-1)
            self.backprojectors[k].insert(
                self.pixels.scatter(data[chosen], size),
                rotations[chosen],
                self.pixels.scatter(weight[chosen], size),
                max_radius=size / 2,
            )
