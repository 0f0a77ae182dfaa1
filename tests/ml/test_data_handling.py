"""Data handling of the ML jobs: streamed or pre-read images, the scratch copy, the memory check,
the mapping of Compute options, and the per-iteration progress bar."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from vitreo.io.errors import InputError
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, write_star
from vitreo.jobs import ml_options
from vitreo.jobs.context import JobContext
from vitreo.jobs.ml_options import compute_settings, continue_from, engine_progress, particle_loader
from vitreo.jobs.options import Params
from vitreo.jobs.progress import ProgressReporter
from vitreo.ml.optimiser import ProgressEvent
from vitreo.ml.particles import StreamedImages, copy_to_scratch, load_particles

BOX = 16


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two stacks (7 and 5 images) in different folders with the same file name; particles.star
    names their images in a mixed order."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    names = []
    for folder, count in (("a", 7), ("b", 5)):
        Path(folder).mkdir()
        write_mrc(f"{folder}/stack.mrcs", rng.normal(size=(count, BOX, BOX)).astype(np.float32), 2.0, is_stack=True)
        names += [f"{i + 1:06d}@{folder}/stack.mrcs" for i in range(count)]
    order = rng.permutation(len(names))
    optics = Table.from_columns({"rlnOpticsGroup": np.array([1]), "rlnImagePixelSize": np.array([2.0]),
                                 "rlnImageSize": np.array([BOX]), "rlnVoltage": np.array([300.0]),
                                 "rlnSphericalAberration": np.array([2.7]), "rlnAmplitudeContrast": np.array([0.1])})
    particles = Table.from_columns({"rlnImageName": np.array(names, dtype=object)[order],
                                    "rlnOpticsGroup": np.ones(len(names), dtype=np.int64)})
    write_star("particles.star", {"optics": optics, "particles": particles})
    return tmp_path


def test_streamed_images_equal_the_pre_read_ones(project: Path) -> None:
    preread = load_particles("particles.star", use_ctf=False)
    streamed = load_particles("particles.star", use_ctf=False, preread=False)
    assert isinstance(streamed.images, StreamedImages) and streamed.resident_bytes == 0
    assert preread.resident_bytes == 12 * BOX * BOX * 4
    assert streamed.images.shape == tuple(preread.images.shape) and len(streamed) == 12
    ids = torch.tensor([11, 0, 5, 5, 7])
    assert torch.equal(streamed.images[ids], preread.images[ids])
    assert torch.equal(streamed.images[2:9], preread.images[2:9])
    assert not torch.equal(preread.images[0], preread.images[1])  # the control: images differ


def test_streaming_checks_every_stack_up_front(project: Path) -> None:
    names = np.array(["000001@a/stack.mrcs", "000006@b/stack.mrcs"])
    with pytest.raises(InputError, match="b/stack.mrcs.*has 5 images"):
        StreamedImages(names)
    with pytest.raises(InputError, match="c/stack.mrcs"):
        StreamedImages(np.array(["000001@c/stack.mrcs"]))


def test_scratch_copy_reads_the_same_images_and_keeps_the_original_names(project: Path) -> None:
    table_names = load_particles("particles.star", use_ctf=False).table.columns["rlnImageName"]
    copies = copy_to_scratch(table_names, ".", project / "scratch")
    assert len(list((project / "scratch").iterdir())) == 2  # a/stack.mrcs and b/stack.mrcs do not collide
    from_scratch = load_particles("particles.star", use_ctf=False, image_names=copies)
    original = load_particles("particles.star", use_ctf=False)
    assert torch.equal(from_scratch.images, original.images)
    assert list(from_scratch.table.columns["rlnImageName"]) == list(table_names)
    assert all(str(project / "scratch") in name for name in copies)


def test_loader_pre_reads_when_it_fits_streams_otherwise_and_cleans_scratch(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("vitreo.test.loader")
    compute = compute_settings(Params({"do_preread_images": "No", "scratch_dir": "scratch", "nr_threads": "2"}))
    with particle_loader(compute, log, Path("Class2D/job001")) as load:
        particles = load("particles.star", use_ctf=False)
        assert isinstance(particles.images, StreamedImages)
        assert len(list(Path("scratch").glob("vitreo_job001_*/set00/*"))) == 2  # streamed from the copies
        assert particles.images[torch.arange(12)].shape == (12, BOX, BOX)
    assert list(Path("scratch").iterdir()) == []  # removed at the end of the block
    preread = compute_settings(Params({"do_preread_images": "Yes", "scratch_dir": "scratch"}))
    with particle_loader(preread, log, Path("Class2D/job001")) as load:
        assert isinstance(load("particles.star", use_ctf=False).images, torch.Tensor)
        assert list(Path("scratch").iterdir()) == []  # pre-read images need no copy
    monkeypatch.setattr(ml_options, "available_memory", lambda: 2 * 12 * BOX * BOX * 4 - 1)
    with caplog.at_level(logging.WARNING), particle_loader(preread, log, Path("Class2D/job001")) as load:
        particles = load("particles.star", use_ctf=False)
    assert isinstance(particles.images, StreamedImages) and "streaming" in caplog.text


def test_compute_options_map_to_engine_settings(project: Path) -> None:
    values = {"nr_threads": "3", "use_gpu": "Yes", "gpu_ids": "0:1", "nr_pool": "30", "do_pad1": "Yes",
              "skip_gridding": "No", "do_preread_images": "No", "scratch_dir": ""}
    compute = compute_settings(Params(values))
    assert (compute.threads, compute.device, compute.pool, compute.padding, compute.gridding) == (3, "0:1", 30, 1.0, True)
    assert compute_settings(Params({**values, "use_gpu": "No"})).device is None
    assert compute_settings(Params({})) == ml_options.MlCompute()
    names = [option.name for option in ml_options.compute_options(pad1=True, gridding=True)]
    assert names == ["do_parallel_discio", "nr_pool", "do_pad1", "skip_gridding", "do_preread_images", "scratch_dir",
                     "do_combine_thru_disc", "use_gpu", "gpu_ids"]
    assert continue_from(Params({"fn_cont": ""})) is None
    with pytest.raises(InputError, match="no such optimiser"):
        continue_from(Params({"fn_cont": "run_it002_optimiser.star"}))
    with pytest.raises(InputError, match="_optimiser.star"):
        continue_from(Params({"fn_cont": "particles.star"}))


def test_engine_progress_shows_one_bar_per_iteration(project: Path) -> None:
    log = logging.getLogger("vitreo.test.progress")
    job = Path("job")
    job.mkdir()
    ctx = JobContext(job, Params({}), log=log, progress=ProgressReporter(job, log, terminal=False))
    report = engine_progress(ctx)
    tasks = []
    for iteration in (3, 4):
        for done in (40, 100):
            report(ProgressEvent(iteration, 4, "expectation", done, 100))
            tasks.append((ctx.progress.task, ctx.progress.done, ctx.progress.total))
        report(ProgressEvent(iteration, 4, "maximisation", 100, 100))
    assert tasks == [("iteration 3/4", 40, 100), ("iteration 3/4", 100, 100),
                     ("iteration 4/4", 40, 100), ("iteration 4/4", 100, 100)]
    (job / "RELION_JOB_ABORT_NOW").touch()
    with pytest.raises(Exception, match="aborted"):
        report(ProgressEvent(4, 4, "expectation", 100, 100))
