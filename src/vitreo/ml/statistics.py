"""Weighted sums over particles and hypotheses that the M-step needs (RELION's wsum_model).

For a batch with posterior weights W (B, T, R) over shifts φ_t and references P_r, all sums are
matrix products over the same blocks as the E-step's scores:

- back-projection data Σ_{b,t} W_btr · c_d X_b φ_t/σ² per reference: (R × B·T)·(B·T × 2F);
- back-projection weight Σ_b (Σ_t W_btr) · c_w/σ²: (R × B)·(B × F);
- the expected residual per particle and pixel, Σ W |X φ_t − c P|² = Σ W |X|² − 2 Re(X c Q) +
  c² Σ_r (Σ_t W) |P_r|², with Q_b = Σ_t φ_t Σ_r W_btr conj(P_r) from (B·T × R)·(R × 2F);
  summed per group (noise spectra) and per particle (norm correction);
- per group Σ W Re(X conj(c P)) and Σ W c²|P|² with c excluding the group scale (scales).
"""

from __future__ import annotations

import torch

from vitreo.em.backprojector import BackProjector
from vitreo.ml.batch import ExperimentalBatch
from vitreo.ml.pixels import FourierPixels
from vitreo.ml.scoring import GemmTimer, StackedProjections, shifted_stack

_F64 = torch.float64


def _complex(stacked: torch.Tensor) -> torch.Tensor:
    """(…, 2F) real [Re, Im] -> (…, F) complex."""
    half = stacked.shape[-1] // 2
    return torch.complex(stacked[..., :half], stacked[..., half:])


#: Largest (references × pixels) table of per-reference sums kept before back-projection.
TABLE_ELEMENTS = 1 << 25
#: Without a table, pooled per-reference sums are back-projected when they exceed this (rows × pixels).
POOL_ELEMENTS = 1 << 25
#: Rows × rfft pixels back-projected at once (about 100 MB of temporaries).
INSERT_ELEMENTS = 1 << 23


class SufficientStatistics:
    """Accumulators for one iteration: K back-projectors plus noise, scale, norm, prior and offset sums.

    Per-reference data and weight sums are kept in a table over all ``n_references`` reference
    ids while it stays small (2D: classes × fine in-plane angles) and back-projected once by
    :meth:`finish`; otherwise the sums of successive chunks are pooled (those of one reference
    added together) and back-projected when the pool grows large, and by :meth:`finish`.
    """

    def __init__(
        self,
        n_classes: int,
        ndim: int,
        box: int,
        pixels: FourierPixels,
        n_groups: int,
        n_particles: int,
        n_references: int,
        padding: float = 2.0,
        device: torch.device | str | None = None,
        symmetry: str = "C1",
    ) -> None:
        self.pixels = pixels
        # 3D: the sums are symmetrised once, after the last insertion (as inserting every reference
        # once per proper operator L of the point group, as A·L)
        self.symmetry = symmetry if ndim == 3 else "C1"
        self.box = box
        self.backprojectors = [BackProjector(box, ndim, padding, device) for _ in range(n_classes)]
        n_pix, n_shells = len(pixels), box // 2 + 1
        self.table: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if n_references * n_pix <= TABLE_ELEMENTS:
            self.table = (
                torch.zeros(n_references, n_pix, dtype=torch.complex64, device=device),
                torch.zeros(n_references, n_pix, device=device),
                torch.full((n_references,), -1, dtype=torch.long, device=device),
                torch.zeros(n_references, ndim, ndim, device=device),
            )
        # without a table: per-reference sums waiting to be back-projected (flushed when large)
        self.pending: list[tuple[torch.Tensor, ...]] = []
        self.pending_rows = 0
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
        weights: torch.Tensor,
        projections: StackedProjections,
        references: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        shifts: torch.Tensor,
        phases: torch.Tensor,
        timer: GemmTimer,
        columns: torch.Tensor | None = None,
        own: torch.Tensor | None = None,
    ) -> None:
        """Add a batch: ``weights`` (B, T, R) over ``shifts`` (T, 2) pixels (relative to the batch
        offsets, with ``phases`` (T, F)) and R ``projections`` with ids (< n_references), classes
        and rotations ``references`` = ((R,), (R,), (R, D, D)).
        With ``columns`` (B, C) distinct per row, ``weights`` (B, T, C) are each particle's own
        references ``columns`` (batched GEMMs over them only), whose [Re, Im] projections (B, C, 2F)
        ``own`` may be passed when already gathered. Call :meth:`finish` after the last batch."""
        b, t = weights.shape[:2]
        r = len(projections)
        x = batch.data
        y = shifted_stack(x * batch.ctf_data * batch.inv_sigma2, phases)  # (B, T, 2F)
        if columns is None:
            flat = weights.reshape(b * t, r)
            per_reference = weights.sum(dim=1)  # (B, R)
            data = _complex(timer.matmul(flat.T, y.reshape(b * t, -1)))
            summed = timer.matmul(flat, projections.stacked).reshape(b, t, -1)
        else:
            own = projections.stacked[columns] if own is None else own
            per_reference = torch.zeros(b, r, device=weights.device).scatter_add_(1, columns, weights.sum(dim=1))
            own_data = timer.bmm(weights.transpose(1, 2), y)  # (B, C, 2F)
            flat_data = own_data.reshape(-1, own_data.shape[-1])
            data = _complex(torch.zeros(r, flat_data.shape[-1], device=y.device).index_add_(0, columns.reshape(-1), flat_data))
            summed = timer.bmm(weights, own)  # (B, T, 2F): Σ_r W P_r
        f = summed.shape[-1] // 2
        summed = torch.complex(summed[..., :f], -summed[..., f:])  # Σ_r W conj(P_r)
        weight = timer.matmul(per_reference.T, batch.ctf_weight * batch.inv_sigma2)
        q = (summed * phases[None]).sum(dim=1)
        ctf = batch.ctf_model
        cross = (x * ctf * q).real
        model_power = timer.matmul(per_reference, projections.power) * ctf * ctf
        total = per_reference.sum(dim=1, keepdim=True)
        residual = total * (x.real.square() + x.imag.square()) - 2.0 * cross + model_power
        self.noise.index_add_(0, batch.group, residual.double())
        self.residual.index_add_(0, batch.ids, (residual * self.pixels.likelihood_weight).sum(1).double())
        lik = self.pixels.likelihood_weight > 0
        scale = batch.scale
        self.scale_xa.index_add_(0, batch.group, (cross[:, lik].sum(1) / scale).double())
        self.scale_aa.index_add_(0, batch.group, (model_power[:, lik].sum(1) / (scale * scale)).double())
        ids, classes, rotations = references
        self.class_weight.index_add_(0, classes, per_reference.sum(0).double())
        absolute = batch.offsets[:, None, :] + shifts[None].to(batch.offsets)  # (B, T, 2)
        per_shift = weights.sum(dim=2).double()  # (B, T)
        self.offset_sq += (per_shift * absolute.square().sum(-1)).sum()
        self.offset_weight += per_shift.sum()
        self.power.index_add_(0, batch.group, batch.power_shells.double())
        self.group_count.index_add_(0, batch.group, torch.ones(b, dtype=_F64, device=batch.group.device))
        if self.table is None:
            used = per_reference.sum(0) > 0
            self.pending.append((ids[used], data[used], weight[used], classes[used], rotations[used]))
            self.pending_rows += int(used.sum())
            if self.pending_rows * len(self.pixels) > POOL_ELEMENTS:
                self._flush()
        else:
            table_data, table_weight, table_class, table_rotation = self.table
            table_data.index_add_(0, ids, data)
            table_weight.index_add_(0, ids, weight)
            table_class[ids] = classes
            table_rotation[ids] = rotations.to(table_rotation)

    def finish(self) -> None:
        """Back-project the tabled or pending per-reference sums (call once, after the last batch)."""
        if self.table is not None:
            data, weight, classes, rotations = self.table
            self._insert(data, weight, classes, rotations, classes >= 0)
            self.table = None
        self._flush()
        for backprojector in self.backprojectors:
            backprojector.symmetrise(self.symmetry)

    def _flush(self) -> None:
        """Back-project the pending sums, those of one reference id added together first."""
        if not self.pending:
            return
        ids, data, weight, classes, rotations = (torch.cat(parts) for parts in zip(*self.pending))
        self.pending, self.pending_rows = [], 0
        unique, inverse = torch.unique(ids, return_inverse=True)
        first = torch.empty_like(unique).scatter_(0, inverse, torch.arange(len(ids), device=ids.device))
        summed_data = torch.zeros(len(unique), data.shape[1], dtype=data.dtype, device=data.device).index_add_(0, inverse, data)
        summed_weight = torch.zeros(len(unique), weight.shape[1], device=weight.device).index_add_(0, inverse, weight)
        used = torch.ones(len(unique), dtype=torch.bool, device=ids.device)
        self._insert(summed_data, summed_weight, classes[first], rotations[first], used)

    def _insert(
        self, data: torch.Tensor, weight: torch.Tensor, classes: torch.Tensor, rotations: torch.Tensor, used: torch.Tensor
    ) -> None:
        size = self.pixels.size
        rows = max(1, INSERT_ELEMENTS // (size * (size // 2 + 1)))  # bounds the temporaries
        for k in torch.unique(classes[used]).tolist():
            for chosen in torch.nonzero((classes == k) & used).squeeze(-1).split(rows):
                self.backprojectors[k].insert(
                    self.pixels.scatter(data[chosen], size),
                    rotations[chosen],
                    self.pixels.scatter(weight[chosen], size),
                    max_radius=size / 2,
                )
