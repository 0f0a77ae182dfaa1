"""Options and glue shared by the maximum-likelihood job types (Class2D, Class3D, Refine3D,
InitialModel), with RELION's job.star names, labels and defaults.

Option groups (each returns a tuple of :class:`JobOption`, in RELION's GUI order)::

    input_options(particles_help=None)      fn_img, fn_cont                       (tab I/O)
    ctf_options()                           do_ctf_correction, ctf_intact_first_peak (tab CTF)
    iterations_option(name, default)        nr_iter / nr_iter_em (one JobOption)   (tab Optimisation)
    tau_fudge_option(default)               tau_fudge (one JobOption)
    mask_options(zero_mask=True)            particle_diameter, do_zero_mask
    highres_option()                        highres_limit (one JobOption)
    alignment_option()                      dont_skip_align (one JobOption)        (tab Sampling)
    offset_options(range_default, step_default)  offset_range, offset_step
    compute_options(pad1=False, gridding=False, pool_default="3")
        do_parallel_discio, nr_pool, [do_pad1], [skip_gridding], do_preread_images,
        scratch_dir, do_combine_thru_disc, use_gpu, gpu_ids                     (tab Compute)
    ml_running_options()                    nr_mpi, nr_threads, the Dask and queue options (tab Running)

Glue from parameters to the engine::

    compute = compute_settings(params)      MlCompute: threads, device (RELION --gpu text or
                                            None for CPU), pool, preread, scratch_dir, padding, gridding
    continue_from(params)                   the fn_cont _optimiser.star, or None
    Settings(**common_settings(params), ...)  particle_diameter, ctf, ctf_intact_first_peak, offsets
    with particle_loader(compute, ctx.log, job_dir) as load:
        particles = load("Extract/job005/particles.star", use_ctf=True)   # a ParticleSet
    progress = engine_progress(ctx)         ml.optimiser Progress -> ctx.progress, one bar per iteration
    with engine_run(job_dir, params, ctx, "Class2D", use_ctf=True) as engine:
        ...                                 all of the above for one engine call: engine.fn_cont (checked,
                                            required when continuing), .source, .load, .progress, .log;
                                            E-steps on the job's Dask workers (estep_workers); the
                                            progress is finished when the block ends
    require_inputs(params, "classify", reference=True)   validate: fn_img (and fn_ref) unless fn_cont
    ml_job_spec(directory=..., ...)         a JobSpec continued from an _optimiser.star (fn_cont)

Data handling: ``do_preread_images`` reads every image into RAM when they fit in half of the
available memory (else a warning and streaming); otherwise images are streamed from their stacks
batch by batch. When streaming, a ``scratch_dir`` receives a copy of the stacks first (in a folder
of its own, removed when the ``with`` block ends); pre-read images need no scratch copy. RELION's
``do_parallel_discio`` and ``do_combine_thru_disc`` are kept for compatibility; ``nr_pool`` is
recorded (vitreo sizes its E-step batches itself).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.image_refs import parse_image_name, resolve
from vitreo.io.mrc import read_header_info
from vitreo.io.star import read_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec
from vitreo.ml.optimiser import Progress, ProgressEvent
from vitreo.ml.particles import (
    ParticleSet,
    available_memory,
    copy_to_scratch,
    image_bytes,
    load_particles,
    read_particle_table,
)

IO, CTF, OPTIMISATION, SAMPLING, COMPUTE = "I/O", "CTF", "Optimisation", "Sampling", "Compute"
PREREAD_FRACTION = 0.5  # pre-read only when the images take at most this share of available memory

_NUM, _YES_NO, _TEXT = OptionKind.NUMBER, OptionKind.BOOLEAN, OptionKind.TEXT


def input_options(particles_help: str | None = None) -> tuple[JobOption, ...]:
    """fn_img (the particles) and fn_cont (an _optimiser.star to continue from)."""
    return (
        JobOption("fn_img", "Input images STAR file:", "", OptionKind.INPUT_NODE, IO,
                  particles_help or "A STAR file with all images (and their metadata), e.g. Extract/jobNNN/"
                  "particles.star or a Select job's particles.star.",
                  node_type=node_types.PARTICLES, pattern="STAR files (*.star) \t Image stacks (not recommended, read help!) (*.{spi,mrcs})"),
        JobOption("fn_cont", "Continue from here: ", "", OptionKind.FILE, IO,
                  "Select the *_optimiser.star file of the iteration to continue from (only when continuing a "
                  "job). More iterations or a finer sampling may be given for the continuation.",
                  pattern="STAR Files (*_optimiser.star)", on_continue=True),
    )


def ctf_options() -> tuple[JobOption, ...]:
    """do_ctf_correction and ctf_intact_first_peak."""
    return (
        JobOption("do_ctf_correction", "Do CTF-correction?", "Yes", _YES_NO, CTF,
                  "If set to Yes, CTFs will be corrected inside the MAP refinement: the references are "
                  "CTF-corrected. The particles need rlnDefocusU/V, rlnDefocusAngle, voltage, Cs and amplitude "
                  "contrast. Phase-flipped or CTF-premultiplied data (as their optics flags say) are handled."),
        JobOption("ctf_intact_first_peak", "Ignore CTFs until first peak?", "No", _YES_NO, CTF,
                  "If set to Yes, the CTF is taken as 1 at frequencies below its first peak. Useful for data "
                  "with very low defocus or strong low-resolution features that dominate the alignment."),
    )


def iterations_option(name: str = "nr_iter", default: str = "25") -> JobOption:
    """The number of iterations (RELION 5 calls it nr_iter_em in Class2D, nr_iter elsewhere)."""
    return JobOption(name, "Number of iterations:", default, _NUM, OPTIMISATION,
                     "Number of iterations to be performed. Note that the current implementation of 2D class "
                     "averaging and 3D classification does NOT comprise a convergence criterium: calculations "
                     "stop after this number.", minimum=1, maximum=200, on_continue=True)


def tau_fudge_option(default: str = "2") -> JobOption:
    """The regularisation parameter T."""
    return JobOption("tau_fudge", "Regularisation parameter T:", default, _NUM, OPTIMISATION,
                     "Bayes' law strictly determines the relative weight between the data and the prior; T > 1 puts "
                     "more weight on the data. Values of 2-4 suit 2D, 4 suits 3D classification.",
                     minimum=0.1, maximum=10, on_continue=True)


def mask_options(zero_mask: bool = True, default_diameter: str = "200") -> tuple[JobOption, ...]:
    """particle_diameter (Å) and, with ``zero_mask``, do_zero_mask."""
    options = [JobOption("particle_diameter", "Mask diameter (A):", default_diameter, _NUM, OPTIMISATION,
                         "The diameter (Å) of a circular mask applied to the experimental images. Make it a bit "
                         "larger than the longest dimension of the particle; it should not exceed the box.",
                         minimum=0, maximum=1000)]
    if zero_mask:
        options.append(JobOption("do_zero_mask", "Mask individual particles with zeros?", "Yes", _YES_NO, OPTIMISATION,
                                 "If Yes, the area outside the mask is set to zero; if No, it is filled with random "
                                 "noise with the spectrum of the noise model (better with neighbouring particles)."))
    return tuple(options)


def highres_option() -> JobOption:
    """highres_limit (Å; negative: none)."""
    return JobOption("highres_limit", "Limit resolution E-step to (A): ", "-1", _NUM, OPTIMISATION,
                     "If set to a positive number, the expectation step (alignment) uses no frequencies beyond "
                     "this resolution (Å). Useful against over-fitting of high-frequency noise. Negative: no limit.",
                     minimum=-1, maximum=20, on_continue=True)


def alignment_option() -> JobOption:
    """dont_skip_align: whether images are aligned (No: classification without alignment)."""
    return JobOption("dont_skip_align", "Perform image alignment?", "Yes", _YES_NO, SAMPLING,
                     "If set to No, the particles keep their input orientations and offsets and are only "
                     "classified.", on_continue=True)


def offset_options(range_default: str = "5", step_default: str = "1") -> tuple[JobOption, ...]:
    """offset_range and offset_step (pixels)."""
    return (
        JobOption("offset_range", "Offset search range (pix):", range_default, _NUM, SAMPLING,
                  "Translations are searched within a circle of this radius (pixels) around the current "
                  "offset of each particle.", minimum=0, maximum=30, on_continue=True),
        JobOption("offset_step", "Offset search step (pix):", step_default, _NUM, SAMPLING,
                  "Translational step (pixels) after adaptive oversampling; the coarse search uses twice it.",
                  minimum=0.1, maximum=5, on_continue=True),
    )


def compute_options(pad1: bool = False, gridding: bool = False, pool_default: str = "3") -> tuple[JobOption, ...]:
    """The Compute tab; ``pad1`` adds do_pad1 and ``gridding`` skip_gridding (3D job types)."""
    options = [
        JobOption("do_parallel_discio", "Use parallel disc I/O?", "Yes", _YES_NO, COMPUTE,
                  "Kept for RELION compatibility: this process reads the images and sends them once to each "
                  "worker (pre-read images are then held by every worker; streamed ones are read by the workers "
                  "from the same files).", on_continue=True),
        JobOption("nr_pool", "Number of pooled particles:", pool_default, _NUM, COMPUTE,
                  "Particles read and processed together (RELION's --pool). vitreo sizes its E-step batches "
                  "so that each score block fits a fixed memory bound; this value is recorded.",
                  minimum=1, maximum=1000, on_continue=True),
    ]
    if pad1:
        options.append(JobOption("do_pad1", "Skip padding?", "No", _YES_NO, COMPUTE,
                                 "If Yes, references are not padded (2x) before projection: faster and smaller, "
                                 "at some loss of accuracy.", on_continue=True))
    if gridding:
        options.append(JobOption("skip_gridding", "Skip gridding?", "Yes", _YES_NO, COMPUTE,
                                 "If Yes, the reconstruction skips the iterative gridding correction.",
                                 on_continue=True))
    options += [
        JobOption("do_preread_images", "Pre-read all particles into RAM?", "No", _YES_NO, COMPUTE,
                  "If Yes, all particle images are read into memory once (when they fit in half of the available "
                  "memory; else they are streamed, with a warning). If No, they are read from disc batch by batch.",
                  on_continue=True),
        JobOption("scratch_dir", "Copy particles to scratch directory:", "", OptionKind.FILE, COMPUTE,
                  "If a folder is given (e.g. a local SSD), the particle stacks are copied there before the first "
                  "iteration and read from there; the copy is removed when the job ends.", on_continue=True),
        JobOption("do_combine_thru_disc", "Combine iterations through disc?", "No", _YES_NO, COMPUTE,
                  "Kept for RELION compatibility (no effect: vitreo combines results in memory).", on_continue=True),
        JobOption("use_gpu", "Use GPU acceleration?", "No", _YES_NO, COMPUTE,
                  "If Yes, the computations run on the GPU(s) given below.", on_continue=True),
        JobOption("gpu_ids", "Which GPUs to use:", "", _TEXT, COMPUTE,
                  "GPU ids (0, 1, ...); separate several with colons or commas; empty: every visible GPU.",
                  on_continue=True),
    ]
    return tuple(options)


def ml_running_options() -> tuple[JobOption, ...]:
    """The Running tab of the ML job types (MPI and threads)."""
    return running_options(has_mpi=True, has_threads=True)


@dataclass(frozen=True)
class MlCompute:
    """Compute settings of an ML job: CPU ``threads``; ``device`` as RELION's --gpu text (None:
    CPU); ``pool`` (nr_pool); ``preread`` asked for; ``scratch_dir`` ("" for none); ``padding``
    factor of the references (1 with do_pad1, else 2); ``gridding`` (not skip_gridding)."""

    threads: int = 1
    device: str | None = None
    pool: int = 3
    preread: bool = False
    scratch_dir: str = ""
    padding: float = 2.0
    gridding: bool = False


def compute_settings(params: Params) -> MlCompute:
    """The :class:`MlCompute` of a job's parameters (options it lacks take their defaults)."""
    def has(name: str) -> bool:
        return name in params and params.text(name) != ""

    use_gpu = has("use_gpu") and params.flag("use_gpu")
    return MlCompute(
        threads=params.integer("nr_threads") if has("nr_threads") else 1,
        device=(params.text("gpu_ids") if has("gpu_ids") else "") if use_gpu else None,
        pool=params.integer("nr_pool") if has("nr_pool") else 3,
        preread=has("do_preread_images") and params.flag("do_preread_images"),
        scratch_dir=params.text("scratch_dir") if has("scratch_dir") else "",
        padding=1.0 if has("do_pad1") and params.flag("do_pad1") else 2.0,
        gridding=not params.flag("skip_gridding") if has("skip_gridding") else False,
    )


def common_settings(params: Params) -> dict[str, Any]:
    """The engine settings every ML job type takes from its shared options, as keyword arguments:
    particle_diameter (Å), ctf, ctf_intact_first_peak, offset_range and offset_step (pixels; the
    engine's coarse step is twice the GUI's, which is the step after one order of oversampling)."""
    return dict(
        particle_diameter=params.number("particle_diameter"),
        ctf=params.flag("do_ctf_correction"),
        ctf_intact_first_peak=params.flag("ctf_intact_first_peak"),
        offset_range=params.number("offset_range"),
        offset_step=2 * params.number("offset_step"),
    )


def continue_from(params: Params) -> Path | None:
    """The _optimiser.star to continue from (fn_cont), or None; InputError if it is missing."""
    text = params.text("fn_cont") if "fn_cont" in params else ""
    if not text:
        return None
    path = Path(text)
    if not path.is_file():
        raise InputError(path, "no such optimiser file to continue from (fn_cont)")
    if not path.name.endswith("_optimiser.star"):
        raise InputError(path, "continue from an _optimiser.star file (fn_cont)")
    return path


def class_count(params: Params) -> int:
    """``nr_classes``, or when continuing (fn_cont), the number of classes of the run continued:
    relion_refine --continue reads it from the run's model, whatever the job's own setting."""
    text = params.text("fn_cont") if "fn_cont" in params else ""
    general = read_star(text).get("optimiser_general") if text and Path(text).is_file() else None
    model = general.get("rlnModelStarFile") if isinstance(general, dict) else None
    if model is not None and Path(str(model)).is_file():
        model_general = read_star(str(model)).get("model_general")
        if isinstance(model_general, dict) and "rlnNrClasses" in model_general:
            return int(model_general["rlnNrClasses"])
    return params.integer("nr_classes")


ParticleLoader = Callable[..., ParticleSet]


@contextmanager
def particle_loader(compute: MlCompute, log: logging.Logger, job_dir: str | os.PathLike[str]) -> Iterator[ParticleLoader]:
    """A function ``load(star_path, use_ctf=True) -> ParticleSet`` that follows the data handling of
    ``compute`` (see the module docstring); scratch copies are removed when the block ends."""
    scratch: Path | None = None
    try:
        def load(star_path: str | os.PathLike[str], use_ctf: bool = True) -> ParticleSet:
            nonlocal scratch
            table = read_particle_table(star_path)
            names = table.columns["rlnImageName"]
            preread = compute.preread and _fits(names, log)
            if compute.scratch_dir and not preread:
                root = Path(compute.scratch_dir)
                root.mkdir(parents=True, exist_ok=True)
                scratch = scratch or Path(tempfile.mkdtemp(prefix=f"vitreo_{Path(job_dir).name}_", dir=root))
                log.info(" Copying the particle stacks to %s", scratch)
                names = copy_to_scratch(names, ".", scratch / f"set{len(list(scratch.iterdir())):02d}")
            particles = load_particles(table, use_ctf=use_ctf, preread=preread, image_names=names)
            how = "pre-read into memory" if preread else "streamed from disc"
            log.info(" %d particles of %d px, %s", len(particles), particles.box, how)
            return particles

        yield load
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _fits(names: np.ndarray, log: logging.Logger) -> bool:
    """Whether pre-read images fit in the allowed share of available memory (warns if not)."""
    box = read_header_info(resolve(parse_image_name(str(names[0])).path)).nx
    needed = image_bytes(len(names), box)
    free = available_memory()
    if needed > PREREAD_FRACTION * free:
        log.warning(" WARNING: the images need %.1f GiB, more than half the %.1f GiB available: streaming them "
                    "from disc instead of pre-reading", needed / 2**30, free / 2**30)
        return False
    return True


def engine_progress(ctx: JobContext) -> Progress:
    """An engine progress callback that shows one bar per iteration (particles done) on ``ctx.progress``."""
    current = {"iteration": None}

    def report(event: ProgressEvent) -> None:
        assert ctx.progress is not None
        if event.stage != "expectation":
            return
        if current["iteration"] != event.iteration:
            current["iteration"] = event.iteration
            ctx.progress.start(f"iteration {event.iteration}/{event.n_iterations}", event.total)
        ctx.progress.advance(event.done - ctx.progress.done)
        ctx.check_abort()

    return report


@dataclass(frozen=True)
class EngineRun:
    """What a job passes to an ML engine: ``fn_cont`` (the _optimiser.star to continue from, or
    None), ``source`` (fn_img, else fn_cont: for the engine's command line), ``load(star_path)``
    (a :class:`ParticleSet`, see :func:`particle_loader`), ``progress`` and ``log(message)``."""

    compute: MlCompute
    fn_cont: Path | None
    source: str
    load: Callable[[str | os.PathLike[str]], ParticleSet]
    progress: Progress
    log: Callable[[str], None]


@contextmanager
def engine_run(job_dir: str | os.PathLike[str], params: Params, ctx: JobContext, job_name: str,
               use_ctf: bool, log_format: str = " %s") -> Iterator[EngineRun]:
    """The :class:`EngineRun` of a job's parameters; InputError when continuing (``ctx.is_continue``)
    without fn_cont. Scratch copies are removed and the progress is finished when the block ends."""
    compute = compute_settings(params)
    fn_cont = continue_from(params)
    if ctx.is_continue and fn_cont is None:
        article = "an" if job_name[:1] in "AEIOU" else "a"
        raise InputError(None, f"continuing {article} {job_name} job needs the _optimiser.star to continue from (fn_cont)")
    with particle_loader(compute, ctx.log, job_dir) as load, estep_workers(ctx, compute):
        yield EngineRun(
            compute=compute,
            fn_cont=fn_cont,
            source=params.text("fn_img") or str(fn_cont),
            load=lambda path: load(path, use_ctf=use_ctf),
            progress=engine_progress(ctx),
            log=lambda message: ctx.log.info(log_format, message),
        )
    assert ctx.progress is not None
    ctx.progress.finish()


@contextmanager
def estep_workers(ctx: JobContext, compute: MlCompute) -> Iterator[None]:
    """Inside the block the engine's E-steps run on the job's Dask workers (``dask`` options, or
    nr_mpi > 1: a LocalCluster of nr_mpi workers), each with ``compute``'s threads, GPU ids and
    scratch directory; without workers, in this process."""
    client = ctx.client(mpi_as_local=True)
    if client is None:
        yield
        return
    from vitreo.ml.distributed import distributed_estep

    with distributed_estep(client, compute.threads, compute.device, compute.scratch_dir) as workers:
        ctx.log.info(" E-steps on %d Dask worker(s) of %d thread(s) each", len(workers.addresses()), compute.threads)
        yield


def require_inputs(params: Params, verb: str, reference: bool = False) -> None:
    """Unless continuing (fn_cont): ValueError without particles (fn_img) or, with ``reference``, a map (fn_ref)."""
    if params.text("fn_cont"):
        return
    if not params.text("fn_img"):
        raise ValueError(f"give the particles to {verb} (--fn_img)")
    if reference and not params.text("fn_ref"):
        raise ValueError("give the reference map (--fn_ref)")


def ml_job_spec(**fields: Any) -> JobSpec:
    """A :class:`JobSpec` of an ML job type: continued from an _optimiser.star given as fn_cont."""
    return JobSpec(**fields, continue_rule=ContinueRule.FROM_OPTIMISER, continue_option="fn_cont")


__all__ = [
    "IO", "CTF", "OPTIMISATION", "SAMPLING", "COMPUTE",
    "input_options", "ctf_options", "iterations_option", "tau_fudge_option", "mask_options", "highres_option",
    "alignment_option", "offset_options", "compute_options", "ml_running_options",
    "MlCompute", "compute_settings", "common_settings", "continue_from", "ParticleLoader", "particle_loader",
    "engine_progress", "EngineRun", "engine_run", "estep_workers", "require_inputs", "ml_job_spec",
]
