"""The ML engine's pieces against direct evaluation: pixels, grids, scores, posteriors, statistics."""

from __future__ import annotations

import math

import pytest
import torch

from vitreo.em.fourier import phase_shift
from vitreo.ml.batch import ExperimentalBatch
from vitreo.ml.pixels import FourierPixels
from vitreo.ml.posterior import normalise, prune, significance_threshold
from vitreo.ml.sampling import InPlaneSampling, TranslationSampling, in_plane_matrices
from vitreo.ml.scoring import GemmTimer, StackedProjections, dense_scores
from vitreo.ml.statistics import SufficientStatistics

BOX = 16


def test_pixels_of_a_smaller_size_are_a_prefix_and_round_trip() -> None:
    pixels = FourierPixels.for_size(BOX, 12)
    small = FourierPixels.for_size(BOX, 8)
    n = pixels.count(8)
    assert n == len(small)
    assert torch.equal(pixels.index[:n], small.index)
    assert int(pixels.shell.max()) == 5 and bool((pixels.shell[1:] >= pixels.shell[:-1]).all())
    values = torch.randn(3, BOX, BOX // 2 + 1, dtype=torch.complex64)
    gathered = pixels.gather(values)
    assert torch.equal(pixels.gather_from(pixels.scatter(gathered)), gathered)
    assert pixels.likelihood_weight[0] == 0  # the origin does not count


def test_pixel_phases_shift_like_fourier_phase_shift() -> None:
    pixels = FourierPixels.for_size(BOX, BOX)
    image = torch.fft.rfft2(torch.randn(BOX, BOX))
    shift = torch.tensor([[1.5, -2.25]])
    expected = pixels.gather(phase_shift(image, shift[0], (BOX, BOX)))
    assert torch.allclose(pixels.gather(image) * pixels.phases(shift)[0], expected, atol=1e-4)


def test_in_plane_children_split_each_coarse_step() -> None:
    grid = InPlaneSampling(10.0, oversampling=1, perturbation=0.2)
    assert grid.n_coarse == 36 and grid.n_children == 2
    coarse = grid.psi
    fine = grid.fine_psi(torch.arange(72))
    step = math.radians(10.0)
    assert torch.allclose(fine[0::2], coarse - step / 4) and torch.allclose(fine[1::2], coarse + step / 4)
    assert torch.allclose(grid.fine_matrices(torch.tensor([3])), in_plane_matrices(fine[3:4]))
    assert int(grid.nearest_fine(fine[7:8])[0]) == 7


def test_translation_children_belong_to_their_parent_cell() -> None:
    grid = TranslationSampling(5.0, 2.0, oversampling=1)
    coarse, fine = grid.coarse, grid.fine
    assert len(coarse) == 21 and len(fine) == 84
    parent = coarse[torch.arange(84) // grid.n_children]
    assert float((fine - parent).abs().max()) == pytest.approx(0.5)


def _batch(n: int, pixels: FourierPixels, generator: torch.Generator) -> ExperimentalBatch:
    f = len(pixels)
    data = torch.randn(n, f, dtype=torch.complex64, generator=generator) * 10
    ctf = torch.rand(n, f, generator=generator) * 2 - 1
    inv_sigma2 = torch.rand(n, f, generator=generator) + 0.5
    return ExperimentalBatch(
        ids=torch.arange(n), data=data, ctf_model=ctf, ctf_data=ctf, ctf_weight=ctf * ctf,
        inv_sigma2=inv_sigma2, lik_inv_sigma2=inv_sigma2 * pixels.likelihood_weight,
        group=torch.tensor([0, 1, 0][:n]), scale=torch.ones(n), offsets=torch.zeros(n, 2, dtype=torch.float64),
        power_shells=torch.zeros(n, BOX // 2 + 1), data_term=torch.zeros(n), log_norm=torch.zeros(n),
    )


def test_dense_scores_equal_the_gaussian_log_likelihood() -> None:
    generator = torch.Generator().manual_seed(0)
    pixels = FourierPixels.for_size(BOX, BOX)
    batch = _batch(3, pixels, generator)
    projections = torch.randn(4, len(pixels), dtype=torch.complex64, generator=generator)
    shifts = torch.randn(5, 2, dtype=torch.float64, generator=generator)
    phases = pixels.phases(shifts)
    scores = dense_scores(batch, StackedProjections.from_complex(projections), phases, GemmTimer())
    x = batch.data[:, None, None, :] * phases[None, :, None, :]
    residual = (x - batch.ctf_model[:, None, None, :] * projections[None, None]).abs().square()
    direct = -0.5 * (residual * batch.lik_inv_sigma2[:, None, None, :]).sum(-1)
    direct += 0.5 * (batch.data.abs().square() * batch.lik_inv_sigma2).sum(-1)[:, None, None]
    assert torch.allclose(scores, direct, rtol=1e-4, atol=1e-2)


def test_significance_keeps_the_smallest_set_holding_the_fraction() -> None:
    generator = torch.Generator().manual_seed(1)
    log_p = torch.randn(6, 500, generator=generator) * 4
    log_p[0, 10:] = float("-inf")  # a particle with only 10 possible hypotheses
    posterior = normalise(log_p)
    assert torch.allclose(posterior.weights.sum(1), torch.ones(6))
    assert torch.allclose(posterior.log_evidence, torch.logsumexp(log_p.double(), 1))
    threshold = significance_threshold(posterior.weights, 0.99)
    ordered = posterior.weights.sort(dim=1, descending=True).values
    needed = (ordered.cumsum(1) < 0.99).sum(1) + 1  # what a sort would keep
    kept = (posterior.weights >= threshold[:, None]).sum(1)
    assert bool((kept >= needed).all())
    assert bool(((posterior.weights * (posterior.weights >= threshold[:, None])).sum(1) >= 0.99).all())
    # binning keeps at most the hypotheses within one bin (at most 12.5% wide) of the sort's last one
    last = ordered.gather(1, (needed - 1)[:, None])[:, 0]
    assert bool((threshold >= last / 1.125).all())
    pruned = prune(posterior.weights, 0.99)
    assert torch.allclose(pruned.sum(1), torch.ones(6)) and bool(((pruned > 0).sum(1) == kept).all())


def test_statistics_equal_direct_weighted_sums() -> None:
    generator = torch.Generator().manual_seed(2)
    pixels = FourierPixels.for_size(BOX, 12)
    batch = _batch(3, pixels, generator)
    n_ref, n_shift = 4, 5
    projections = torch.randn(n_ref, len(pixels), dtype=torch.complex64, generator=generator)
    shifts = torch.randn(n_shift, 2, dtype=torch.float64, generator=generator)
    phases = pixels.phases(shifts)
    weights = torch.rand(3, n_shift, n_ref, generator=generator)
    weights /= weights.sum(dim=(1, 2), keepdim=True)
    stats = SufficientStatistics(2, 2, BOX, pixels, n_groups=2, n_particles=3, n_references=n_ref)
    ids = torch.arange(n_ref)
    classes = torch.tensor([0, 0, 1, 1])
    rotations = in_plane_matrices(torch.rand(n_ref, dtype=torch.float64, generator=generator)).float()
    stats.add(batch, weights, StackedProjections.from_complex(projections), (ids, classes, rotations), shifts, phases, GemmTimer())
    table_data, table_weight = stats.table[0], stats.table[1]
    x = batch.data[:, None, None, :] * phases[None, :, None, :]  # (B, T, 1, F)
    w = weights[..., None]
    expected_data = (w * x * (batch.ctf_data * batch.inv_sigma2)[:, None, None, :]).sum(dim=(0, 1))
    expected_weight = (w * (batch.ctf_weight * batch.inv_sigma2)[:, None, None, :]).sum(dim=(0, 1))
    assert torch.allclose(table_data, expected_data, rtol=1e-4, atol=1e-3)
    assert torch.allclose(table_weight, expected_weight, rtol=1e-4, atol=1e-4)
    residual = (w * (x - batch.ctf_model[:, None, None, :] * projections[None, None]).abs().square()).sum(dim=(1, 2))
    expected_noise = torch.stack([residual[batch.group == g].sum(0) for g in range(2)]).double()
    assert torch.allclose(stats.noise, expected_noise, rtol=1e-4, atol=1e-2)
    assert torch.allclose(stats.class_weight, torch.stack([weights[..., :2].sum(), weights[..., 2:].sum()]).double())
    stats.finish()
    assert stats.table is None and float(stats.backprojectors[0].weight.sum()) > 0


def test_direction_children_surround_their_parent() -> None:
    from vitreo.em.geometry import rotation_angle
    from vitreo.ml.sampling import DirectionSampling

    grid = DirectionSampling(order=1, oversampling=1, symmetry="C1")
    assert grid.n_coarse == 48 * 12 and grid.n_children == 8
    coarse = grid.coarse_matrices()
    fine = grid.fine_matrices(torch.arange(grid.n_coarse * grid.n_children))
    parent = coarse.repeat_interleave(grid.n_children, dim=0)
    angle = torch.rad2deg(rotation_angle(parent.transpose(-1, -2) @ fine))
    assert float(angle.max()) < grid.step_deg  # every child lies within one coarse step of its parent
    assert float(angle.min()) > 0.0
    assert len(DirectionSampling(order=2, symmetry="D2").directions.pixel) < 192 // 3


def test_statistics_over_own_columns_equal_the_dense_sums() -> None:
    """Weights on each particle's own references (columns) give the sums of the same weights
    spread over all references: the fine pass's gathered path matches the dense one."""
    generator = torch.Generator().manual_seed(5)
    pixels = FourierPixels.for_size(BOX, 12)
    batch = _batch(3, pixels, generator)
    n_ref, n_shift = 6, 4
    projections = StackedProjections.from_complex(torch.randn(n_ref, len(pixels), dtype=torch.complex64, generator=generator))
    shifts = torch.randn(n_shift, 2, dtype=torch.float64, generator=generator)
    phases = pixels.phases(shifts)
    columns = torch.tensor([[0, 2, 5], [1, 2, 3], [4, 0, 1]])
    own_weights = torch.rand(3, n_shift, 3, generator=generator)
    own_weights /= own_weights.sum(dim=(1, 2), keepdim=True)
    dense = torch.zeros(3, n_shift, n_ref).scatter_(2, columns[:, None, :].expand(-1, n_shift, -1), own_weights)
    references = (torch.arange(n_ref), torch.tensor([0, 0, 0, 1, 1, 1]),
                  in_plane_matrices(torch.rand(n_ref, dtype=torch.float64, generator=generator)).float())
    sums = []
    for weights, cols in ((dense, None), (own_weights, columns)):
        stats = SufficientStatistics(2, 2, BOX, pixels, n_groups=2, n_particles=3, n_references=n_ref)
        stats.add(batch, weights, projections, references, shifts, phases, GemmTimer(), columns=cols)
        sums.append((stats.table[0], stats.table[1], stats.noise, stats.residual, stats.scale_xa, stats.class_weight))
    for got, expected in zip(sums[1], sums[0]):
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_pooled_sums_without_a_table_back_project_as_the_table_does() -> None:
    """Where the per-reference table would be too large, chunks' sums are pooled (one reference's
    added together) and back-projected at the end: the same maps as through the table."""
    from vitreo.ml import statistics as stats_module

    generator = torch.Generator().manual_seed(6)
    pixels = FourierPixels.for_size(BOX, 12)
    n_ref, n_shift = 5, 3
    projections = StackedProjections.from_complex(torch.randn(n_ref, len(pixels), dtype=torch.complex64, generator=generator))
    shifts = torch.randn(n_shift, 2, dtype=torch.float64, generator=generator)
    phases = pixels.phases(shifts)
    references = (torch.arange(n_ref), torch.tensor([0, 0, 1, 1, 1]),
                  in_plane_matrices(torch.rand(n_ref, dtype=torch.float64, generator=generator)).float())
    chunks = [(_batch(3, pixels, generator), torch.rand(3, n_shift, n_ref, generator=generator)) for _ in range(2)]
    results = []
    for elements in (stats_module.TABLE_ELEMENTS, 0):  # with the table; without it (pooled)
        stats_module.TABLE_ELEMENTS, saved = elements, stats_module.TABLE_ELEMENTS
        try:
            stats = SufficientStatistics(2, 2, BOX, pixels, n_groups=2, n_particles=3, n_references=n_ref)
            assert (stats.table is None) == (elements == 0)
            for batch, weights in chunks:
                stats.add(batch, weights, projections, references, shifts, phases, GemmTimer())
            assert elements or stats.pending_rows == 2 * n_ref  # both chunks pooled, not yet inserted
            stats.finish()
        finally:
            stats_module.TABLE_ELEMENTS = saved
        results.append([(bp.data.clone(), bp.weight.clone()) for bp in stats.backprojectors])
    for (data_a, weight_a), (data_b, weight_b) in zip(*results):
        assert torch.allclose(data_a, data_b, rtol=1e-4, atol=1e-4) and torch.allclose(weight_a, weight_b, rtol=1e-4, atol=1e-5)



def test_back_projection_in_row_blocks_equals_all_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-reference sums are back-projected in blocks of INSERT_ELEMENTS (memory): the maps do not change."""
    from vitreo.ml import statistics as stats_module

    generator = torch.Generator().manual_seed(7)
    pixels = FourierPixels.for_size(BOX, 12)
    n_ref, n_shift = 6, 3
    projections = StackedProjections.from_complex(torch.randn(n_ref, len(pixels), dtype=torch.complex64, generator=generator))
    shifts = torch.randn(n_shift, 2, dtype=torch.float64, generator=generator)
    references = (torch.arange(n_ref), torch.tensor([0, 0, 0, 1, 1, 1]),
                  in_plane_matrices(torch.rand(n_ref, dtype=torch.float64, generator=generator)).float())
    batch, weights = _batch(3, pixels, generator), torch.rand(3, n_shift, n_ref, generator=generator)
    results = []
    for elements in (stats_module.INSERT_ELEMENTS, 1):  # all rows at once; one row at a time
        monkeypatch.setattr(stats_module, "INSERT_ELEMENTS", elements)
        stats = SufficientStatistics(2, 2, BOX, pixels, n_groups=2, n_particles=3, n_references=n_ref)
        stats.add(batch, weights, projections, references, shifts, pixels.phases(shifts), GemmTimer())
        stats.finish()
        results.append([(bp.data.clone(), bp.weight.clone()) for bp in stats.backprojectors])
    for (data_a, weight_a), (data_b, weight_b) in zip(*results):
        assert torch.allclose(data_a, data_b, rtol=1e-5, atol=1e-5) and torch.allclose(weight_a, weight_b, rtol=1e-5, atol=1e-6)
        assert float(weight_a.abs().sum()) > 0

def test_orientation_changes_ignore_jumps_between_symmetry_copies() -> None:
    from vitreo.em.geometry import euler_degrees_to_matrix, matrix_to_euler
    from vitreo.em.symmetry import proper_operators
    from vitreo.ml.model import ParticleState
    from vitreo.ml.optimiser import convergence

    generator = torch.Generator().manual_seed(3)
    angles = torch.rand(200, 3, generator=generator, dtype=torch.float64) * torch.tensor([360.0, 180.0, 360.0])
    old = ParticleState.initial(torch.zeros(200, 2))
    old.angles = torch.deg2rad(angles)
    copies = euler_degrees_to_matrix(*angles.unbind(-1)) @ proper_operators("D2", torch.float64)[2]  # 180° about an axis
    moved = old.copy()
    moved.angles = torch.stack(matrix_to_euler(copies), dim=-1)
    assert convergence(old, moved, "D2")[1] < 1e-3
    assert convergence(old, moved, "C1")[1] == pytest.approx(180.0, abs=1e-3)
    turned = old.copy()
    turned.angles = torch.stack(matrix_to_euler(euler_degrees_to_matrix(*angles.unbind(-1))
                                                @ euler_degrees_to_matrix(0.0, 0.0, 10.0)), dim=-1)
    assert convergence(old, turned, "D2")[1] == pytest.approx(10.0, abs=1e-3)
