"""`simulate_dataset`: write a whole simulated dataset with its ground truth, all or nothing.

Layout of ``out_dir`` (like the RELION tutorial's project folder)::

    Micrographs/mic001_movie.mrcs   movies (int8 counts; .tif with ``tiff``), or
    Micrographs/mic001.mrc          micrographs (float32, ``micrographs_only``)
    Micrographs/gain.mrc            gain reference (``gain_reference``)
    mtf_<detector>.star             the detector MTF in movie pixels (RELION's rlnMtfFileName)
    truth/particles.star, truth/micrographs.star, truth/motion/mic001.star,
    truth/map.mrc, truth/map_state2.mrc, truth/README.md, truth/simulation.json

Everything is written into a hidden folder beside ``out_dir`` and renamed onto it at the end,
so an error or an interrupt leaves nothing behind. Micrographs are rendered in parallel
processes when they are large enough to pay for starting them.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
import torch

from vitreo.io.atomic import atomic_path, write_text_atomic
from vitreo.io.errors import InputError
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, write_star
from vitreo.simulate.config import SimulationConfig
from vitreo.io.mtf import mtf_file, read_mtf
from vitreo.simulate.detector import Detector, draw_detector
from vitreo.simulate.plan import dataset_rng, micrograph_name, plan_micrograph
from vitreo.simulate.readme import readme_text
from vitreo.simulate.render import Renderer
from vitreo.simulate.truth import MicrographTruth, micrograph_truth, write_motion_star, write_truth_tables
from vitreo.simulate.volumes import ParticleMaps, particle_maps

Progress = Callable[[int, int, str], None]
"""Called as progress(done, total, name) after each micrograph."""

#: Below this many pixels × frames per micrograph, one process renders everything.
_PARALLEL_PIXELS = 1 << 24
GAIN_NAME = "Micrographs/gain.mrc"


@dataclass(frozen=True)
class SimulatedDataset:
    """Where a dataset was written and what it holds (paths absolute)."""

    root: Path
    micrographs: tuple[Path, ...]
    particles_star: Path
    micrographs_star: Path
    maps: tuple[Path, ...]
    gain: Path | None
    n_particles: int
    n_junk: int


def simulate_dataset(
    out_dir: str | os.PathLike[str],
    config: SimulationConfig | None = None,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> SimulatedDataset:
    """Simulate ``config`` (default: the tutorial preset) into ``out_dir``; see the module docstring.

    ``out_dir`` must not exist or be empty unless ``overwrite``. Raises InputError for bad
    parameters, an unreadable structure or MTF, or an occupied output folder, before writing.
    """
    config = config or SimulationConfig()
    config.validate()
    out = Path(out_dir).absolute()
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise InputError(out, "already exists and is not empty (choose another folder or overwrite it)")
    maps = particle_maps(config)
    mtf_path = mtf_file(config.mtf)
    mtf_curve = read_mtf(mtf_path) if mtf_path is not None else None
    detector = draw_detector(dataset_rng(config.seed), config)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = _hidden_sibling(out, "partial")
    try:
        (staging / "Micrographs").mkdir()
        (staging / "truth").mkdir()
        if not config.micrographs_only:
            (staging / "truth" / "motion").mkdir()
        mtf_name = _write_mtf(staging, config, mtf_path, mtf_curve) if mtf_curve is not None else None
        if detector.gain is not None:
            write_mrc(staging / GAIN_NAME, detector.gain, config.pixel_size)
        truths = _render_all(staging, config, maps, detector, progress)
        map_names = _write_maps(staging, config, maps)
        write_truth_tables(staging / "truth", config, truths, mtf_name)
        write_text_atomic(staging / "truth" / "simulation.json", config.to_json())
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        files.append("truth/README.md")
        readme = readme_text(config, truths, maps.description, maps.diameter, _shorten(files))
        write_text_atomic(staging / "truth" / "README.md", readme)
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    kinds = np.concatenate([t.particles["rlnVitreoIsJunk"] for t in truths])
    return SimulatedDataset(
        root=out,
        micrographs=tuple(out / t.micrograph["rlnMicrographName"] for t in truths),
        particles_star=out / "truth" / "particles.star",
        micrographs_star=out / "truth" / "micrographs.star",
        maps=tuple(out / name for name in map_names),
        gain=out / GAIN_NAME if detector.gain is not None else None,
        n_particles=int((kinds == 0).sum()),
        n_junk=int(kinds.sum()),
    )


def image_name(config: SimulationConfig, index: int) -> str:
    """Path (relative to the dataset) of micrograph ``index``'s movie or micrograph."""
    stem = micrograph_name(index, config.n_micrographs)
    if config.micrographs_only:
        return f"Micrographs/{stem}.mrc"
    return f"Micrographs/{stem}_movie.{'tif' if config.tiff else 'mrcs'}"


def render_micrograph(
    renderer: Renderer, config: SimulationConfig, index: int, diameter: float, root: Path
) -> MicrographTruth:
    """Render micrograph ``index``, write its image (and motion file) under ``root``; return its truth."""
    plan = plan_micrograph(config, index, diameter)
    background, frames = renderer.render(plan)
    stack = np.stack(list(frames))
    name = image_name(config, index)
    if config.micrographs_only:
        write_mrc(root / name, stack[0], config.pixel_size)
    elif config.tiff:
        with atomic_path(root / name) as tmp:
            tifffile.imwrite(tmp, np.ascontiguousarray(stack[:, ::-1, :]), compression="zlib", photometric="minisblack")
    else:
        write_mrc(root / name, stack, config.pixel_size, is_stack=True)
    metadata = None
    if not config.micrographs_only:
        metadata = f"truth/motion/{plan.name}.star"
        gain = GAIN_NAME if renderer.detector.gain is not None else None
        write_motion_star(root / metadata, plan.motion, config, name, gain, renderer.detector.hot_pixels)
    return micrograph_truth(plan, config, name, metadata, background.ice_thickness, background.carbon_fraction)


def worker_count(config: SimulationConfig) -> int:
    """Processes to use: ``config.workers``, or one per CPU (at most one per micrograph) when
    micrographs are large, else 1."""
    if config.workers > 0:
        return min(config.workers, config.n_micrographs)
    width, height = config.micrograph_size
    frames = len(config.frame_exposures)
    if width * height * frames < _PARALLEL_PIXELS:
        return 1
    return max(1, min(config.n_micrographs, os.cpu_count() or 1))


def _render_all(
    root: Path, config: SimulationConfig, maps: ParticleMaps, detector: Detector, progress: Progress | None
) -> list[MicrographTruth]:
    """Render every micrograph, in worker processes when that pays; truths in micrograph order."""
    total = config.n_micrographs
    workers = worker_count(config)
    truths: dict[int, MicrographTruth] = {}

    def done(index: int, truth: MicrographTruth) -> None:
        truths[index] = truth
        if progress is not None:
            progress(len(truths), total, micrograph_name(index, total))

    if workers == 1:
        renderer = Renderer(config, maps.volumes, detector)
        for index in range(total):
            done(index, render_micrograph(renderer, config, index, maps.diameter, root))
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        context = multiprocessing.get_context("spawn")
        initargs = (config, maps, detector, root, threads)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=initargs) as pool:
            futures = {pool.submit(_render_in_worker, index): index for index in range(total)}
            for future in as_completed(futures):
                done(futures[future], future.result())
    return [truths[index] for index in range(total)]


@dataclass(frozen=True)
class _WorkerState:
    """What a worker process keeps between micrographs."""

    renderer: Renderer
    diameter: float
    root: Path


_WORKER: list[_WorkerState] = []


def _init_worker(config: SimulationConfig, maps: ParticleMaps, detector: Detector, root: Path, threads: int) -> None:
    torch.set_num_threads(threads)
    _WORKER.append(_WorkerState(Renderer(config, maps.volumes, detector), maps.diameter, root))


def _render_in_worker(index: int) -> MicrographTruth:
    state = _WORKER[0]
    return render_micrograph(state.renderer, state.renderer.config, index, state.diameter, state.root)


def _write_maps(root: Path, config: SimulationConfig, maps: ParticleMaps) -> list[str]:
    names = []
    for state, volume in enumerate(maps.volumes, start=1):
        name = "truth/map.mrc" if state == 1 else f"truth/map_state{state}.mrc"
        write_mrc(root / name, volume, config.pixel_size)
        names.append(name)
    return names


def _write_mtf(root: Path, config: SimulationConfig, path: Path, curve: tuple[np.ndarray, np.ndarray]) -> str:
    """The MTF converted to cycles per movie pixel (up to Nyquist), as RELION reads rlnMtfFileName."""
    scale = config.pixel_size / config.mtf_pixel_size  # detector pixels per movie pixel
    frequencies = np.append(curve[0][curve[0] * scale < 0.5] * scale, 0.5)
    values = np.interp(frequencies / scale, curve[0], curve[1])
    name = path.name if path.name.startswith("mtf_") else f"mtf_{path.name}"
    write_star(root / name, {"mtf": Table({"rlnResolutionInversePixel": frequencies, "rlnMtfValue": values})})
    return name


def _shorten(files: list[str]) -> list[str]:
    """File list for the README, with numbered series collapsed to their first and last names."""
    motion = [f for f in files if f.startswith("truth/motion/")]
    images = [f for f in files if f.startswith("Micrographs/") and f != GAIN_NAME]
    rest = [f for f in files if f not in motion and f not in images]
    series = [f"{group[0]} … {group[-1]}" if len(group) > 1 else group[0] for group in (images, motion) if group]
    return series + rest


def _publish(staging: Path, out: Path) -> None:
    """Move the finished dataset onto ``out`` (replacing an existing folder)."""
    old = None
    if out.exists():
        old = _hidden_sibling(out, "old")
        os.replace(out, old / out.name)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _hidden_sibling(path: Path, tag: str) -> Path:
    """A new empty hidden folder beside ``path`` (permissions from the umask, unlike mkdtemp's 0700)."""
    while True:
        candidate = path.parent / f".{path.name}.{tag}-{secrets.token_hex(4)}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
