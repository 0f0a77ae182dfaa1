"""RELION 5's Polish options (``relion.polish``, Bayesian polishing of a refinement's particles),
mapped onto vitreo's Polish job so that RELION 5 job.star files load and run.

RELION 5 polishes ``fn_data`` (Refine3D or CtfRefine particles) with the half-maps of ``fn_post``
(postprocess.star), cutting the particles from the movies of ``fn_mic`` (MotionCorr's
micrographs). vitreo cuts them from the *aligned* movies (``x_movie.mrcs`` beside each
micrograph: vitreo's MotionCorr with ``--save_movies``), as MovieRefine does but without refining
per-frame offsets, into ``<job>/movie_particles.star``, then polishes those as its own Polish
does with the options translated:

===================  ==========================================================================
RELION 5             vitreo
===================  ==========================================================================
do_polish            do_bayesian_polish (No: nothing to do, refused)
sigma_vel/div/acc    the same; with do_own_params No, the three numbers of ``opt_params``
first/last_frame     the movie frames cut (last −1: the movie's last)
extract_size         the box cut from the movie in its pixels (−1: the refinement's box in Å)
rescale              the shiny particles' box (−1: the refinement's box)
do_float16           movie-particle and shiny stacks in float16
minres / maxres      perframe_bfac_lowres / perframe_highres (−1: Nyquist); they bound fitted
                     B-factors, and Bayesian polishing weights frames by the dose model instead
dose, pre-exposure   rlnMicrographDoseRate / rlnMicrographPreExposure of the micrographs' motion
                     files (rlnMicrographMetadata), else dose_per_frame / pre_exposure
===================  ==========================================================================

Refused: parameter training (``do_param_optim`` Yes; ``eval_frac`` and ``optim_min_part`` serve
only it) — give the sigmas or an ``opt_params`` file instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.star import Table, write_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.movie_extraction import cut_micrograph, read_movie_list, read_refinement
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.star_tables import STAR_VERSION
from vitreo.picking.extraction import ExtractSettings, bg_radius_for
from vitreo.polish.movie_table import ORIGINS, movie_rows
from vitreo.preprocess.motion_files import read_motion_star

MOVIE_PARTICLES = "movie_particles.star"
ROOTNAME = "movie"
IO, TRAIN, POLISH = "I/O", "Train", "Polish"


def relion5_options() -> tuple[JobOption, ...]:
    """RELION 5's Polish options that vitreo's 2.1-style job lacks (``fn_post`` and the sigmas are shared)."""
    number, boolean = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        JobOption("fn_data", "Particles (from Refine3D or CtfRefine):", "", OptionKind.INPUT_NODE, IO,
                  "RELION 5 inputs: the refined particles to polish (instead of MovieRefine's movie particles); "
                  "needs fn_mic and fn_post.", node_type=node_types.PARTICLES, pattern="STAR files (*.star)"),
        JobOption("fn_mic", "Micrographs (from MotionCorr):", "", OptionKind.INPUT_NODE, IO,
                  "RELION 5 inputs: MotionCorr's micrographs; the aligned movie x_movie.mrcs must lie beside each "
                  "micrograph x.mrc (vitreo's MotionCorr with --save_movies).", node_type=node_types.MICROGRAPHS,
                  pattern="STAR files (*.star)"),
        JobOption("first_frame", "First movie frame:", "1", number, IO, "RELION 5 inputs: first frame to use.",
                  minimum=1),
        JobOption("last_frame", "Last movie frame:", "-1", number, IO, "RELION 5 inputs: last frame; -1: all."),
        JobOption("extract_size", "Extraction size (pix in unbinned movie):", "-1", number, IO,
                  "RELION 5 inputs: box cut from the movies; -1: the refinement's box (same size in Å)."),
        JobOption("rescale", "Re-scaled size (pixels):", "-1", number, IO,
                  "RELION 5 inputs: box of the shiny particles; -1: the refinement's box."),
        JobOption("do_float16", "Write output in float16?", "Yes", boolean, IO,
                  "RELION 5 inputs: write the movie-particle and shiny stacks in half precision."),
        JobOption("do_param_optim", "Train optimal parameters?", "No", boolean, TRAIN,
                  "RELION 5's parameter training: not available in vitreo (give the sigmas or opt_params)."),
        JobOption("eval_frac", "Fraction of Fourier pixels for testing:", "0.5", number, TRAIN,
                  "Parameter training only (not available in vitreo)."),
        JobOption("optim_min_part", "Use this many particles:", "10000", number, TRAIN,
                  "Parameter training only (not available in vitreo)."),
        JobOption("do_polish", "Perform particle polishing?", "Yes", boolean, POLISH,
                  "RELION 5 inputs: Bayesian polishing of fn_data."),
        JobOption("opt_params", "Optimised parameter file:", "", OptionKind.FILE, POLISH,
                  "RELION 5 inputs with do_own_params No: a file whose first three numbers are sigma_vel, sigma_div "
                  "and sigma_acc (RELION's opt_params_all_groups.txt).", pattern="Text files (*.txt)"),
        JobOption("do_own_params", "OR use your own parameters?", "Yes", boolean, POLISH,
                  "RELION 5 inputs: use sigma_vel, sigma_div and sigma_acc below (No: read them from opt_params)."),
        JobOption("minres", "Minimum resolution for B-factor fit (A):", "20", number, POLISH,
                  "RELION 5 inputs: low-resolution limit of per-frame B-factor fits (perframe_bfac_lowres)."),
        JobOption("maxres", "Maximum resolution for B-factor fit (A):", "-1", number, POLISH,
                  "RELION 5 inputs: high-resolution limit of per-frame B-factor fits (perframe_highres); -1: Nyquist."),
    )


def uses_relion5_inputs(params: Params) -> bool:
    """True for a job given RELION 5's inputs (fn_data) rather than MovieRefine's (fn_in)."""
    return bool(params.text("fn_data"))


def validate_relion5(params: Params) -> None:
    """ValueError for RELION 5 options vitreo cannot honour or inputs that are missing."""
    if params.text("fn_in"):
        raise ValueError("give either MovieRefine's movie particles (--fn_in) or RELION 5's refined particles "
                         "(--fn_data), not both")
    if params.flag("do_param_optim"):
        raise ValueError("RELION 5's parameter training (--do_param_optim Yes) is not available in vitreo: give "
                         "--sigma_vel, --sigma_div and --sigma_acc (--do_own_params Yes) or an --opt_params file")
    if not params.flag("do_polish"):
        raise ValueError("nothing to do: --do_polish is No and parameter training is not available in vitreo")
    if not params.text("fn_mic"):
        raise ValueError("RELION 5 polishing needs MotionCorr's micrographs (--fn_mic)")
    if not params.text("fn_post"):
        raise ValueError("RELION 5 polishing needs the half-maps (--fn_post: a postprocess.star)")
    if not params.flag("do_own_params") and not params.text("opt_params"):
        raise ValueError("give --opt_params (the optimised parameters) or --do_own_params Yes")


def motion_priors_file(path: str) -> dict[str, str]:
    """sigma_vel, sigma_div, sigma_acc from the first three numbers of RELION's parameter file."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise InputError(path, f"cannot read the optimised parameters ({err.strerror})") from None
    numbers = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text)
    if len(numbers) < 3:
        raise InputError(path, "expected three numbers: sigma_vel, sigma_div and sigma_acc")
    return dict(zip(("sigma_vel", "sigma_div", "sigma_acc"), numbers[:3]))


def translate(job_dir: Path, params: Params, ctx: JobContext) -> Params:
    """Cut the movie particles of RELION 5's inputs (unless a continued job has) and return the
    parameters of vitreo's Polish that do the same work (module docstring)."""
    particles, optics, columns = read_refinement(params.text("fn_data"))
    movies = read_movie_list(params.text("fn_mic"), ROOTNAME)
    pixel = float(np.asarray(columns["rlnImagePixelSize"])[0])
    box = int(np.asarray(columns["rlnImageSize"])[0])
    movie_pixel = movies.pixel_size or pixel
    cut = params.integer("extract_size")
    cut = cut if cut > 0 else 2 * round(box * pixel / movie_pixel / 2)
    final = params.integer("rescale") if params.integer("rescale") > 0 else box
    settings = ExtractSettings(box=cut, rescaled=final if final != cut else 0,
                               bg_radius=bg_radius_for(params.number("bg_diameter"), cut, final if final != cut else 0),
                               white_dust=params.number("white_dust"), black_dust=params.number("black_dust"))
    final_pixel = movie_pixel * cut / final
    frames = (params.integer("first_frame"), params.integer("last_frame"), 1)
    names = np.asarray(particles["rlnMicrographName"]).astype(str)
    tables, n_particles = [], 0
    for micrograph in dict.fromkeys(names):
        ctx.check_abort()
        movie = movies.movie(micrograph)
        if movie is None:
            raise InputError(params.text("fn_mic"),
                             f"does not list micrograph {micrograph} of {params.text('fn_data')}")
        rows = particles.select(np.flatnonzero(names == micrograph))
        part = cut_micrograph(job_dir, micrograph, movie, rows, settings, frames, ROOTNAME, final_pixel,
                              ctx.is_continue, ctx.log, float16=params.flag("do_float16"))
        if part is None:
            continue
        chosen = rows.select(part.chosen)
        prior = np.stack([np.asarray(chosen[label], float) if label in chosen else np.zeros(len(chosen))
                          for label in ORIGINS], axis=1) / final_pixel
        angles = np.stack([np.asarray(chosen[label], float) for label in ("rlnAngleRot", "rlnAngleTilt",
                                                                           "rlnAnglePsi")], axis=1)
        groups = len(part.groups)
        n_particles += len(chosen)
        tables.append(movie_rows(chosen, part.groups.numbers, 1, 1, str(part.stack),
                                 np.repeat(prior[:, None], groups, axis=1), np.repeat(angles[:, None], groups, axis=1),
                                 final_pixel))
    if not tables:
        raise InputError(params.text("fn_data"), "no particle could be cut from the aligned movies")
    out_optics = optics.copy()
    out_optics["rlnImagePixelSize"] = np.full(len(optics), final_pixel)
    out_optics["rlnImageSize"] = np.full(len(optics), final, dtype=np.int64)
    merged = Table({label: np.concatenate([np.asarray(t[label]) for t in tables]) for label in tables[0].labels})
    star = job_dir / MOVIE_PARTICLES
    write_star(star, {"optics": out_optics, "particles": merged}, version=STAR_VERSION)
    ctx.log.info(" RELION 5 inputs: %d particles cut from %d aligned movie(s) into %s", n_particles, len(tables), star)
    changes = {"fn_in": str(star), "do_bayesian_polish": "Yes", "perframe_bfac_lowres": params.text("minres"),
               "perframe_highres": params.text("maxres") if params.number("maxres") > 0 else "0",
               **_dose(movies.metadata, params, ctx)}
    if not params.flag("do_own_params"):
        changes.update(motion_priors_file(params.text("opt_params")))
    return params.updated(changes)


def _dose(metadata: dict[str, str], params: Params, ctx: JobContext) -> dict[str, str]:
    """dose_per_frame and pre_exposure from the first readable motion file, else the job's own."""
    for path in metadata.values():
        if Path(path).is_file():
            record = read_motion_star(path)
            if record.dose_per_frame > 0:
                return {"dose_per_frame": repr(record.dose_per_frame), "pre_exposure": repr(record.pre_exposure)}
    ctx.log.info(" no dose in the micrographs' motion files: %s e/Å² per frame, %s e/Å² pre-exposure (job options)",
                 params.text("dose_per_frame"), params.text("pre_exposure"))
    return {}


__all__ = ["relion5_options", "uses_relion5_inputs", "validate_relion5", "translate", "motion_priors_file",
           "MOVIE_PARTICLES"]
