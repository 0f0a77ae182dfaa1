"""The E-step split over Dask workers (issue 14) against one process, on tiny simulated data.

Class2D (200 images of betagal at 6 Å/px in a 40-pixel box, K = 4, 4 iterations) and Refine3D
(60 images of a blob phantom, 24-pixel box, 1 iteration and the final join) run once in this
process and once on a LocalCluster of 2 worker processes with 1 thread each. Tolerances: the
distributed runs differ only in the order of floating-point sums (measured: class averages to
2e-6 of their peak, the same class and angles for every particle); we allow 1e-4 of the peak
and 99% identical assignments. A worker killed in the middle of an iteration must leave the
result within the same tolerance.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.faults import KillingImages
from tests.ml.phantom3d import blob_phantom, simulate, write_map
from vitreo.em.filters import lowpass
from vitreo.em.masks import soft_spherical_mask
from vitreo.ml.batch import ImageOptions
from vitreo.ml.class2d import Class2DResult, Class2DSettings, run_class2d
from vitreo.ml.distributed import distributed_estep, shard_seed, worker_groups
from vitreo.ml.estep_plan import EStepPlan
from vitreo.ml.expectation import EStepOptions, SearchGrid
from vitreo.io.errors import InputError
from vitreo.ml.particles import copy_to_scratch, load_particles, read_particle_table
from vitreo.ml.refine3d import Refine3DResult, Refine3DSettings, run_refine3d
from vitreo.ml.sampling import InPlaneSampling, TranslationSampling
from vitreo.ml.statistics_merge import SUMMED, add_statistics
from vitreo.ml.worker_scratch import local_particles, remove_worker_scratch
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map

PIXEL_2D, BOX_2D = 6.0, 40
SETTINGS_2D = Class2DSettings(nr_classes=4, nr_iter=4, particle_diameter=200, psi_step=12, offset_range=3,
                              offset_step=1.5, threads=1)
BOX_3D, PIXEL_3D = 24, 8.0
SETTINGS_3D = Refine3DSettings(ini_high=40.0, healpix_order=2, local_healpix_order=3, particle_diameter=150.0,
                               offset_range=3.0, offset_step=2.0, max_iter=1)
PEAK_TOLERANCE = 1e-4  # of the largest value, for sums taken in another order
SAME_FRACTION = 0.99  # of particles with identical class and orientation


@pytest.fixture(scope="module")
def class2d(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Class2DResult]:
    """The project, its particles and Class2D in this process."""
    project = tmp_path_factory.mktemp("distributed2d")
    volume = torch.from_numpy(default_structure_map(PIXEL_2D, BOX_2D))
    settings = StackSettings(n_particles=200, snr=0.5, max_origin=2.0)
    stack = simulate_particle_stack(volume, PIXEL_2D, settings, torch.Generator().manual_seed(1))
    star = write_particle_stack(stack, settings, project, truth_columns=False)
    return project, star, run_class2d(star, project / "local/run", SETTINGS_2D, project_dir=project)


def assert_same_class2d(found: Class2DResult, expected: Class2DResult) -> None:
    peak = np.abs(expected.classes).max()
    assert np.abs(found.classes - expected.classes).max() <= PEAK_TOLERANCE * peak
    same = (found.state.class_index == expected.state.class_index) & torch.isclose(
        found.state.angles, expected.state.angles, atol=1e-6).all(dim=1)
    assert float(same.double().mean()) >= SAME_FRACTION
    sigma2 = expected.model.sigma2_noise
    assert float((found.model.sigma2_noise - sigma2).abs().max()) <= PEAK_TOLERANCE * float(sigma2.abs().max())


def shard_workers(client, run) -> set[str]:  # type: ignore[no-untyped-def]
    """Run ``run()`` with both workers up (one may be restarting after a fault test) and return the
    workers on which E-step shards ran."""
    from distributed import get_task_stream

    client.wait_for_workers(2, timeout=120)
    with get_task_stream(client) as stream:
        run()
    return {task["worker"] for task in stream.data if task["key"].startswith("run_shard")}


def test_class2d_on_two_workers_equals_one_process(class2d, dask_client) -> None:  # type: ignore[no-untyped-def]
    project, star, local = class2d
    results = []

    def run() -> None:
        with distributed_estep(dask_client, threads=1):
            results.append(run_class2d(star, project / "dask/run", SETTINGS_2D, project_dir=project))

    assert len(shard_workers(dask_client, run)) == 2
    assert_same_class2d(results[0], local)


def test_a_lost_worker_does_not_change_class2d(class2d, dask_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, star, local = class2d
    marker = tmp_path / "killed"

    def loader(path: Path):  # type: ignore[no-untyped-def]
        particles = load_particles(path, project)
        return replace(particles, images=KillingImages(particles.images, marker, os.getpid()))

    with distributed_estep(dask_client, threads=1):
        result = run_class2d(star, project / "killed/run", SETTINGS_2D, project_dir=project, loader=loader)
    assert marker.exists()  # a worker read the images first and died there, in iteration 2's E-step
    assert_same_class2d(result, local)


def test_refine3d_halves_on_two_workers_equal_one_process(tmp_path: Path, dask_client) -> None:  # type: ignore[no-untyped-def]
    truth = blob_phantom(BOX_3D)
    _, star = simulate(truth, PIXEL_3D, 60, 1.0, 11, tmp_path)
    reference = write_map(tmp_path / "ref.mrc", lowpass(truth.double(), 40.0, PIXEL_3D, ndim=3).float(), PIXEL_3D)
    (tmp_path / "Refine3D").mkdir()
    local = run_refine3d(star, reference, tmp_path / "Refine3D/local", SETTINGS_3D, project_dir=tmp_path)
    results: list[Refine3DResult] = []

    def run() -> None:
        with distributed_estep(dask_client, threads=1):
            results.append(run_refine3d(star, reference, tmp_path / "Refine3D/dask", SETTINGS_3D, project_dir=tmp_path))

    assert len(shard_workers(dask_client, run)) == 2  # one half on each worker
    found = results[0]
    for name in ("map", "half1", "half2"):
        expected = getattr(local, name)
        assert float((getattr(found, name) - expected).abs().max()) <= PEAK_TOLERANCE * float(expected.abs().max())
    assert found.resolution == pytest.approx(local.resolution, rel=1e-3)
    same = torch.isclose(found.state.angles, local.state.angles, atol=1e-6).all(dim=1)
    assert float(same.double().mean()) >= SAME_FRACTION
    assert torch.equal(found.subsets, local.subsets)


def test_statistics_of_two_parts_add_up_to_all(class2d) -> None:  # type: ignore[no-untyped-def]
    """The merge of the statistics of two disjoint subsets equals the statistics of all particles."""
    _, _, local = class2d
    particles, model, state = local.particles, local.model, local.state
    mask = soft_spherical_mask((BOX_2D, BOX_2D), 200 / (2 * PIXEL_2D), 5)
    grid = SearchGrid(InPlaneSampling(12.0, 1), TranslationSampling(3.0, 1.5, 1))
    plan = EStepPlan(model, grid, ImageOptions(mask), EStepOptions(batch_size=64))

    def statistics(subset: torch.Tensor | None):  # type: ignore[no-untyped-def]
        expectation = plan.expectation("cpu")
        stats = plan.statistics(expectation, particles, "cpu")
        expectation.run(particles, state, stats, subset=subset)
        return stats

    whole = statistics(None)
    ids = torch.randperm(len(particles), generator=torch.Generator().manual_seed(0))
    merged = statistics(ids[:77])
    add_statistics(merged, statistics(ids[77:]))
    for name in SUMMED:
        expected, found = getattr(whole, name), getattr(merged, name)
        assert float((found - expected).abs().max()) <= 1e-5 * max(float(expected.abs().max()), 1e-30), name
    for mine, theirs in zip(merged.backprojectors, whole.backprojectors):
        assert float((mine.data - theirs.data).abs().max()) <= 1e-5 * float(theirs.data.abs().max())
        assert float((mine.weight - theirs.weight).abs().max()) <= 1e-5 * float(theirs.weight.abs().max())
    merged.new_sum = torch.zeros(1)  # an accumulator the merge does not know must not be dropped silently
    with pytest.raises(TypeError, match="new_sum"):
        add_statistics(merged, whole)


def test_worker_groups_and_shard_seeds() -> None:
    workers = ["tcp://a", "tcp://b", "tcp://c"]
    assert worker_groups(workers, 1) == [workers]
    assert worker_groups(workers, 2) == [["tcp://a", "tcp://c"], ["tcp://b"]]
    assert worker_groups(["tcp://a"], 2) == [["tcp://a"], ["tcp://a"]]
    generator = torch.Generator().manual_seed(5)
    before = generator.get_state()
    seeds = {shard_seed(generator, p, s) for p in range(2) for s in range(3)}
    assert len(seeds) == 6 and all(0 <= seed < 2**63 for seed in seeds)
    assert torch.equal(generator.get_state(), before)  # the run's random stream is not drawn from
    assert shard_seed(torch.Generator().manual_seed(5), 1, 2) == shard_seed(generator, 1, 2)


def test_a_worker_without_the_leaders_scratch_copy_makes_its_own(class2d, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, star, _ = class2d
    table = read_particle_table(star)
    leader = tmp_path / "leader_scratch"
    names = copy_to_scratch(table.columns["rlnImageName"], project, leader)
    particles = load_particles(table, project, preread=False, image_names=names)
    some = torch.tensor([0, 17, 199])
    expected = particles.images[some]
    assert local_particles(particles, str(tmp_path / "worker")) is particles  # the leader's copy is readable here
    shutil.rmtree(leader)  # as seen from a worker on another machine
    with pytest.raises(InputError, match="cannot be read on this Dask worker"):
        local_particles(particles, "")
    local = local_particles(particles, str(tmp_path / "worker"))
    assert local_particles(particles, str(tmp_path / "worker")) is local  # one copy per particle set
    assert torch.equal(local.images[some], expected)
    assert remove_worker_scratch() == 1 and not any((tmp_path / "worker").iterdir())
