"""The MotionCorr job type (RELION ``relion.motioncorr.own``): beam-induced motion correction.

vitreo's own implementation of MotionCor2's algorithm (``vitreo.preprocess``), with RELION's
parameters, defaults (except 5 × 5 patches, the tutorial's choice, where RELION's GUI says 1)
and outputs: per movie a dose-weighted micrograph (and ``_noDW``), a power spectrum for CTF
estimation, a motion STAR file and a log (``motioncorr_movie``); for the job
corrected_micrographs.star and logfile.pdf (``motioncorr_outputs``). The MotionCor2 options
(executable, GPU ids for it, its extra arguments, EER grouping) are accepted so RELION's
job.star files load, and ignored: there is no external program. ``--save_movies`` in the
additional arguments also writes the aligned frames.

Movies run in parallel (``nr_mpi`` worker processes, or Dask workers, of ``nr_threads``
threads each). A movie that cannot be used (too few frames, gain or defect map of another size,
unreadable file) is reported and skipped; the job fails only when no movie at all has a
corrected micrograph. Continue processes only the movies without one.
"""

from __future__ import annotations

import math
from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.io.gain import load_gain
from vitreo.io.optics import optics_row_index
from vitreo.io.star import Table, read_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.motioncorr_movie import MovieOutcome, MovieTask, output_root, process_movie, save_movies_requested
from vitreo.jobs.motioncorr_outputs import (corrected_rows, write_corrected_micrographs, write_corrected_movies,
                                            write_logfile)
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.preprocess.motion_correction import MotionSettings
from vitreo.preprocess.motion_files import MovieNames
from vitreo.preprocess.movie_frames import DetectorCorrection

IO_TAB, MOTION_TAB = "I/O", "Motion"
GAIN_ROTATIONS = ("No rotation (0)", "90 degrees (1)", "180 degrees (2)", "270 degrees (3)")
GAIN_FLIPS = ("No flipping (0)", "Flip upside down (1)", "Flip left to right (2)")
MOTIONCORR_MICS = "MicrographGroupMetadata.star.relion.motioncorr"
MOTIONCORR_LOG = "LogFile.pdf.relion.motioncorr"


def _options() -> tuple[JobOption, ...]:
    number, boolean, text, file = OptionKind.NUMBER, OptionKind.BOOLEAN, OptionKind.TEXT, OptionKind.FILE
    return (
        JobOption("input_star_mics", "Input movies STAR file:", "", OptionKind.INPUT_NODE, IO_TAB,
                  "A STAR file with all micrographs to run MOTIONCORR on", node_type=node_types.MOVIES,
                  pattern="STAR files (*.star)"),
        JobOption("first_frame_sum", "First frame for corrected sum:", "1", number, IO_TAB,
                  "First frame to use in corrected average (starts counting at 1). ", minimum=1),
        JobOption("last_frame_sum", "Last frame for corrected sum:", "-1", number, IO_TAB,
                  "Last frame to use in corrected average. Values equal to or smaller than 0 mean 'use all frames'."),
        JobOption("eer_grouping", "EER fractionation:", "32", number, IO_TAB,
                  "The number of hardware frames to group into one fraction (Falcon 4 EER movies only). vitreo does "
                  "not read EER movies yet; the value is kept for RELION compatibility.", minimum=1),
        JobOption("do_float16", "Write output in float16?", "Yes", boolean, IO_TAB,
                  "If set to Yes, micrographs are written in float16 MRC format (mode 12), half the disk space of "
                  "float32. RELION and CCPEM read float16; some other programs do not. Use the power spectra for CTF "
                  "estimation (Save sum of power spectra) with float16."),
        JobOption("do_dose_weighting", "Do dose-weighting?", "Yes", boolean, IO_TAB,
                  "If set to Yes, the averaged micrographs will be dose-weighted."),
        JobOption("do_save_noDW", "Save non-dose weighted as well?", "No", boolean, IO_TAB,
                  "Aligned but non-dose weighted images are sometimes useful in CTF estimation, although there is no "
                  "difference in most cases. Whichever the choice, CTF refinement job is always done on dose-weighted "
                  "particles."),
        JobOption("dose_per_frame", "Dose per frame (e/A2):", "1", number, IO_TAB,
                  "Dose per movie frame (in electrons per squared Angstrom).", minimum=0, maximum=5),
        JobOption("pre_exposure", "Pre-exposure (e/A2):", "0", number, IO_TAB,
                  "Pre-exposure dose (in electrons per squared Angstrom).", minimum=0, maximum=5),
        JobOption("do_save_ps", "Save sum of power spectra?", "Yes", boolean, IO_TAB,
                  "Sum of non-dose weighted power spectra provides better signal for CTF estimation. The power spectra "
                  "can be used by CtfFind (Use power spectra from MotionCorr job). You must use this option when "
                  "writing in float16."),
        JobOption("group_for_ps", "Sum power spectra every e/A2:", "4", number, IO_TAB,
                  "McMullan et al (Ultramicroscopy, 2015) suggest summing power spectra every 4.0 e/A2 gives optimal "
                  "Thon rings", minimum=0, maximum=10),
        JobOption("bfactor", "Bfactor:", "150", number, MOTION_TAB,
                  "The B-factor (in pixel²) applied to the frames for alignment: each is weighted by exp(−B·k²), k in "
                  "cycles per pixel. 150 suits ~1 Å pixels; use less for coarser pixels.", minimum=0, maximum=1500),
        JobOption("patch_x", "Number of patches X:", "5", number, MOTION_TAB,
                  "Number of patches (in X and Y direction) to apply motioncor2. Local motion is estimated with 3 or "
                  "more patches in both directions.", minimum=1),
        JobOption("patch_y", "Number of patches Y:", "5", number, MOTION_TAB,
                  "Number of patches (in X and Y direction) to apply motioncor2.", minimum=1),
        JobOption("group_frames", "Group frames:", "1", number, MOTION_TAB,
                  "Average together this many frames before calculating the beam-induced shifts of the patches.",
                  minimum=1, maximum=5),
        JobOption("bin_factor", "Binning factor:", "1", number, MOTION_TAB,
                  "Bin the micrographs this much by a windowing operation in the Fourier Tranform. Binning at this "
                  "level is hard to un-do later on, but may be useful to down-scale super-resolution images. "
                  "Float-values may be used. Do make sure though that the resulting micrograph size is even.",
                  minimum=1, maximum=2),
        JobOption("fn_gain_ref", "Gain-reference image:", "", file, MOTION_TAB,
                  "Location of the gain-reference file to be applied to the input micrographs. Leave this empty if the "
                  "movies are already gain-corrected.", pattern="*.mrc"),
        JobOption("gain_rot", "Gain rotation:", GAIN_ROTATIONS[0], OptionKind.RADIO, MOTION_TAB,
                  "Rotate the gain reference by this number times 90 degrees clockwise in relion_display. This is the "
                  "same as -RotGain in MotionCor2. Note that MotionCor2 uses a different convention for rotation so it "
                  "says 'counter-clockwise'. Valid values are 0, 1, 2 and 3.", choices=GAIN_ROTATIONS),
        JobOption("gain_flip", "Gain flip:", GAIN_FLIPS[0], OptionKind.RADIO, MOTION_TAB,
                  "Flip the gain reference after rotation. This is the same as -FlipGain in MotionCor2. 0 means do "
                  "nothing, 1 means flip Y (upside down) and 2 means flip X (left to right).", choices=GAIN_FLIPS),
        JobOption("fn_defect", "Defect file:", "", file, MOTION_TAB,
                  "Location of a UCSF MotionCor2-style defect text file or a defect map that describe the defect "
                  "pixels on the detector. Each line of a defect text file should contain four numbers specifying x, "
                  "y, width and height of a defect region. A defect map is an image (MRC or TIFF), where 0 means good "
                  "and 1 means bad pixels. The coordinate system is the same as the input movie before application of "
                  "binning, rotation and/or flipping. SerialEM defect files must be converted to a defect map (IMOD: "
                  "clip defect -D defect.txt -f tif movie.mrc defect_map.tif). Leave empty if you don't have any "
                  "defects.", pattern="*"),
        JobOption("do_own_motioncor", "Use RELION's own implementation?", "Yes", boolean, MOTION_TAB,
                  "vitreo always uses its own implementation of MotionCor2's algorithm; kept for RELION compatibility."),
        JobOption("fn_motioncor2_exe", "MOTIONCOR2 executable:", "", file, MOTION_TAB,
                  "Not used: vitreo runs no external program. Kept for RELION compatibility.", pattern="*.*"),
        JobOption("gpu_ids", "Which GPUs to use:", "0", text, MOTION_TAB,
                  "GPU ids (0,1,... ; ':' between processes). vitreo computes on the first listed GPU when CUDA is "
                  "available, otherwise on the CPU."),
        JobOption("other_motioncor2_args", "Other MOTIONCOR2 arguments", "", text, MOTION_TAB,
                  "Not used (there is no MotionCor2 to pass them to). Kept for RELION compatibility."),
        *running_options(has_mpi=True, has_threads=True),
    )


def _validate(params: Params) -> None:
    if not params.text("input_star_mics"):
        raise ValueError("--input_star_mics is empty: give the movies STAR file of an Import job")
    if params.flag("do_float16") and not params.flag("do_save_ps"):
        raise ValueError("when writing float16 micrographs, also save the power spectra for CTF estimation "
                         "(--do_save_ps Yes), as RELION requires")
    if params.number("dose_per_frame") <= 0 and (params.flag("do_dose_weighting") or params.flag("do_save_ps")):
        raise ValueError("--dose_per_frame must be positive for dose weighting and power spectra")
    if params.number("bin_factor") < 1:
        raise ValueError("--bin_factor must be at least 1")
    if params.number("bfactor") < 0:
        raise ValueError("--bfactor must not be negative")
    for name in ("patch_x", "patch_y", "group_frames", "first_frame_sum"):
        if params.integer(name) < 1:
            raise ValueError(f"--{name} must be a whole number of at least 1")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [OutputNode("corrected_micrographs.star", MOTIONCORR_MICS), OutputNode("logfile.pdf", MOTIONCORR_LOG)]


def ps_grouping(params: Params) -> int:
    """Frames per power-spectrum group: round(dose per group / dose per frame), at least 1; 0 for none."""
    if not params.flag("do_save_ps"):
        return 0
    return max(1, int(math.floor(params.number("group_for_ps") / params.number("dose_per_frame") + 0.5)))


def _settings(params: Params, optics: Table, row: int) -> MotionSettings:
    def value(label: str, default: float) -> float:
        return float(optics[label][row]) if label in optics else default

    pixel = value("rlnMicrographOriginalPixelSize", value("rlnMicrographPixelSize", 0.0))
    if pixel <= 0:
        raise InputError(None, "the movies' optics group has no pixel size (rlnMicrographOriginalPixelSize)")
    return MotionSettings(pixel_size=pixel, voltage=value("rlnVoltage", 300.0),
                          dose_per_frame=max(params.number("dose_per_frame"), 1e-6),
                          pre_exposure=params.number("pre_exposure"), first_frame=params.integer("first_frame_sum"),
                          last_frame=params.integer("last_frame_sum"), bfactor=params.number("bfactor"),
                          patches=(params.integer("patch_x"), params.integer("patch_y")),
                          group_frames=params.integer("group_frames"), bin_factor=params.number("bin_factor"),
                          dose_weighting=params.flag("do_dose_weighting"), save_no_dw=params.flag("do_save_noDW"),
                          ps_grouping=ps_grouping(params), save_movie=save_movies_requested(params.text("other_args")))


def _device(params: Params) -> str:
    import torch

    ids = params.text("gpu_ids").replace(",", ":").split(":")
    if ids[0].strip().isdigit() and torch.cuda.is_available():
        return f"cuda:{ids[0].strip()}"
    return "cpu"


def read_movies(path: str) -> tuple[list[str], list[int], list[int], Table]:
    """Movie names, their optics groups, their rows in the optics table, and the optics table."""
    blocks = read_star(path)
    movies, optics = blocks.get("movies"), blocks.get("optics")
    if not isinstance(movies, Table) or "rlnMicrographMovieName" not in movies:
        raise InputError(path, "expected a data_movies table with rlnMicrographMovieName (the output of Import)")
    rows = optics_row_index(movies, optics, "movies")
    return ([str(m) for m in movies["rlnMicrographMovieName"]], [int(g) for g in movies["rlnOpticsGroup"]],
            [int(r) for r in rows], optics)  # type: ignore[return-value]


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Correct every movie not done before, then write corrected_micrographs.star and logfile.pdf."""
    movies, groups, rows, optics = read_movies(params.text("input_star_mics"))
    gain_path = params.text("fn_gain_ref") or None
    gain = None
    if gain_path:
        gain = load_gain(gain_path, GAIN_ROTATIONS.index(params.text("gain_rot")), GAIN_FLIPS.index(params.text("gain_flip")))
    correction = DetectorCorrection(gain, gain_path, params.text("fn_defect") or None)
    if not params.flag("do_own_motioncor"):
        ctx.log.info(" vitreo has no MotionCor2 wrapper: using its own implementation")
    device = _device(params)
    threads, workers = params.integer("nr_threads"), ctx.executor.workers
    tasks = []
    for movie, row in zip(movies, rows):
        root = output_root(str(job_dir), movie)
        if ctx.is_continue and Path(root + ".mrc").exists():
            continue
        tasks.append(MovieTask(movie, root, _settings(params, optics, row), correction,
                               MovieNames(movie, gain_path, correction.defect_path), params.flag("do_float16"),
                               device, threads))
    ctx.log.info(" Correcting beam-induced motion of %d movie(s) (%d done before) on %s with %d process(es) x %d "
                 "thread(s)", len(tasks), len(movies) - len(tasks), device, workers, threads)
    failures = _correct_all(tasks, threads, ctx)
    ctx.check_abort()
    done, traces = corrected_rows(job_dir, movies, groups)
    if not done:
        raise InputError(params.text("input_star_mics"), f"no movie could be motion-corrected ({failures} failed)")
    write_corrected_micrographs(job_dir, optics, done, params.number("bin_factor"))
    ctx.log.info(" Written %s with %d micrograph(s)", job_dir / "corrected_micrographs.star", len(done))
    if save_movies_requested(params.text("other_args")) and write_corrected_movies(job_dir, optics, done,
                                                                                   params.number("bin_factor")):
        ctx.log.info(" Written %s", job_dir / "corrected_micrograph_movies.star")
    write_logfile(job_dir, done, traces)
    ctx.log.info(" Written %s", job_dir / "logfile.pdf")


def _correct_all(tasks: list[MovieTask], threads: int, ctx: JobContext) -> int:
    """Run the tasks, logging each outcome; returns the number of failed movies."""
    ctx.progress.start("motion correction", len(tasks))
    failures = 0
    for index, outcome in ctx.executor.map(process_movie, tasks, threads):
        task = tasks[index]
        if isinstance(outcome, MovieOutcome):
            ctx.log.info(" %s -> %s (drift %.2f px, %d hot pixels, local model %s)", task.movie, outcome.micrograph,
                         outcome.drift_px, outcome.n_hot_pixels, "yes" if outcome.local_model else "no")
        else:
            failures += 1
            ctx.log.info(" WARNING: skipped %s: %s", task.movie, _reason(outcome))
        ctx.progress.advance()
        ctx.check_abort()
    ctx.progress.finish()
    return failures


def _reason(error: BaseException) -> str:
    return str(error) if isinstance(error, (InputError, ValueError, OSError)) else f"{type(error).__name__}: {error}"


def job_spec() -> JobSpec:
    """The MotionCorr job type."""
    return JobSpec(
        directory="MotionCorr",
        type_label="relion.motioncorr",
        title="Motion correction",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        label_for=lambda params: "relion.motioncorr.own",
        validate=_validate,
        continue_rule=ContinueRule.NEW_INPUTS_ONLY,
        harsh_clean=("**/*_movie.mrcs",),
        hidden_name=".gui_motioncorr",
        summary="Correct beam-induced motion of movies (MotionCor2's algorithm), dose-weight, save power spectra.",
    )


__all__ = ["job_spec", "run", "ps_grouping", "GAIN_ROTATIONS", "GAIN_FLIPS"]
