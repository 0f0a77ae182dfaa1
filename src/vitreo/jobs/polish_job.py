"""The Polish job type (RELION 2.1 ``relion.polish``): particle polishing of MovieRefine's movie
particles, and RELION 3's Bayesian polishing as an option.

Steps, each skipped on Continue when its outputs exist (as the tutorial lists; a step's outputs are
reused whatever the parameters were):
1. tracks (``fitted_tracks.star``): straight lines through each particle's per-frame offsets, neighbours weighing in by a
   Gaussian of their distance (``sigma_nb`` px) (:mod:`vitreo.polish.tracks`); with
   ``do_bayesian_polish``, per-particle tracks with smoothness and spatial-correlation priors
   fitted by L-BFGS to the frames against the half-maps of ``fn_post`` (:mod:`vitreo.polish.bayesian`);
2. with B-factor weighting: single-frame half-maps ``frameNNN_half1/2_class001_unfil.mrc`` (and
   their sums ``avgframes_half1/2_class001_unfil.mrc``), then per-frame B-factors and scale
   factors from masked relative Guinier plots (``frameNNN_guinier.star``) between
   ``perframe_bfac_lowres`` and ``perframe_highres`` Å: ``bfactors.star``
   (:mod:`vitreo.polish.frame_bfactors`); Bayesian
   polishing weights frames by their radiation damage instead (dose per frame, pre-exposure);
3. shiny particles, the weighted sums of the aligned frames: ``<micrograph>_shiny.mrcs`` and
   ``shiny.star``; and ``logfile.pdf`` (tracks and fits, B-factors and scale factors, Guinier plots).

RELION 5's Polish job.star (the same label, other options: a refinement's particles, MotionCorr's
micrographs, a postprocess.star) loads too: the job then cuts the movie particles itself and
polishes them as above with its options translated (:mod:`vitreo.jobs.polish_relion5`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.em.symmetry import parse_symmetry
from vitreo.io.coords import coordinate_file_for
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.optics import with_optics
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.movierefine_job import MOVIE_DATA
from vitreo.jobs.options import JobOption, OptionKind, Params, unavailable_option
from vitreo.jobs.polish_relion5 import relion5_options, translate, uses_relion5_inputs, validate_relion5
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.jobs.star_tables import STAR_VERSION
from vitreo.picking.extraction import bg_radius_for
from vitreo.plots.polish_plots import BfactorPlot, TrackPage, write_polish_logfile
from vitreo.polish.bayesian import MotionPriors, group_damage, micrograph_tracks
from vitreo.polish.frame_bfactors import GuinierFit, dose_frame_weights, fit_frames, frame_weights
from vitreo.polish.frame_maps import frame_half_maps, window_groups
from vitreo.polish.movie_particles import read_movie_particles
from vitreo.polish.movie_table import ANGLES, MOVIE_COLUMNS, ORIGINS, MovieParticles, group_movie_particles
from vitreo.polish.references import load_references
from vitreo.polish.shiny import shiny_images
from vitreo.polish.tracks import fit_straight_tracks
from vitreo.post.inputs import other_half

SHINY, BFACTORS, LOGFILE, TRACKS = "shiny.star", "bfactors.star", "logfile.pdf", "fitted_tracks.star"
POLISH_PARTICLES = "ParticleGroupMetadata.star.relion.polish"
POLISH_LOG = "LogFile.pdf.relion.polish"
CHUNK = 64
IO, MOVEMENT, DAMAGE, NORM, BAYES, HELIX = "I/O", "Movement", "Damage", "Normalise", "Bayesian", "Helix"


def _options() -> tuple[JobOption, ...]:
    number, boolean, text = OptionKind.NUMBER, OptionKind.BOOLEAN, OptionKind.TEXT
    return (
        JobOption("fn_in", "Input STAR file with aligned movies:", "", OptionKind.INPUT_NODE, IO,
                  "The movie particles of a MovieRefine job (run_avg*_off*_data.star).", node_type=MOVIE_DATA,
                  pattern="STAR files (*_data.star)"),
        JobOption("fn_mask", "Mask for the reconstructions", "", OptionKind.INPUT_NODE, IO,
                  "Mask applied to the single-frame half-maps before their FSC (needed for B-factor weighting).",
                  node_type=node_types.MASK, pattern="Image Files (*.{spi,vol,msk,mrc})"),
        JobOption("movie_runavg_window", "Running average window:", "5", number, MOVEMENT,
                  "Used only when the input lacks rlnMovieFramesRunningAverage: frames at either end that did not "
                  "contribute fully to a running average are left out of the fits."),
        JobOption("do_fit_movement", "Linear fit particle movements?", "Yes", boolean, MOVEMENT,
                  "Fit straight lines through the per-frame offsets (No: use them as measured)."),
        JobOption("sigma_nb", "Stddev on particle distance (pix)", "100", number, MOVEMENT,
                  "Neighbouring particles weigh in on a particle's fit with a Gaussian of this stddev (micrograph "
                  "pixels); 0: each particle alone."),
        JobOption("do_bfactor_weighting", "Perform B-factor weighting?", "Yes", boolean, DAMAGE,
                  "Weight frames by per-frame B-factors and scale factors from single-frame reconstructions."),
        JobOption("perframe_highres", "Highres-limit per-frame maps (A)", "6", number, DAMAGE,
                  "High-resolution limit of the per-frame reconstructions and of their relative Guinier fits."),
        JobOption("perframe_bfac_lowres", "Lowres-limit B-factor estimation (A)", "20", number, DAMAGE,
                  "Low-resolution limit of the relative Guinier fits."),
        JobOption("average_frame_bfactor", "Average frames B-factor estimation", "1", number, DAMAGE,
                  "Reconstruct each frame's maps from this many frames around it (odd: 1, 3, 5, ...); more frames "
                  "give defined B-factors from noisier data.", minimum=1),
        JobOption("sym_name", "Symmetry:", "C1", text, DAMAGE, "Point group of the per-frame reconstructions."),
        JobOption("bg_diameter", "Particle diameter (pix):", "-1", number, NORM,
                  "Background circle for normalising the shiny particles; -1: 75% of the box."),
        JobOption("white_dust", "Stddev for white dust removal:", "-1", number, NORM, "-1: no dust removal."),
        JobOption("black_dust", "Stddev for black dust removal:", "-1", number, NORM, "-1: no dust removal."),
        JobOption("do_bayesian_polish", "Bayesian polishing (RELION 3)?", "No", boolean, BAYES,
                  "Estimate per-particle tracks with smoothness and spatial-correlation priors and weight frames "
                  "by their radiation damage, instead of straight lines and B-factors."),
        JobOption("fn_post", "Half-maps (PostProcess STAR or half1 map):", "", OptionKind.FILE, BAYES,
                  "postprocess.star, or the *_half1_class001_unfil.mrc of the refinement (half2 beside it).",
                  pattern="Files (*.star *.mrc)"),
        JobOption("sigma_vel", "Sigma for velocity (A/dose):", "0.2", number, BAYES, "RELION 3's sigma_vel."),
        JobOption("sigma_div", "Sigma for divergence (A):", "5000", number, BAYES, "RELION 3's sigma_div."),
        JobOption("sigma_acc", "Sigma for acceleration (A/dose):", "2", number, BAYES, "RELION 3's sigma_acc; -1: none."),
        JobOption("dose_per_frame", "Dose per frame (e/A2):", "1", number, BAYES, "Exposure of each movie frame."),
        JobOption("pre_exposure", "Pre-exposure (e/A2):", "0", number, BAYES, "Exposure before the first frame."),
        *relion5_options(),
        unavailable_option("do_helix", "Do helical reconstruction?", "No", boolean, HELIX),
        unavailable_option("helical_nr_asu", "Number of asymmetrical units:", "1", number, HELIX),
        unavailable_option("helical_twist", "Helical twist (deg):", "0", number, HELIX),
        unavailable_option("helical_rise", "Helical rise (A):", "0", number, HELIX),
        *running_options(True, True),
    )


def _validate(params: Params) -> None:
    if params.flag("do_helix"):
        raise ValueError("polishing helical segments is not available in vitreo")
    parse_symmetry(params.text("sym_name"))  # symmetry is applied after all the frames' insertions
    if uses_relion5_inputs(params):
        validate_relion5(params)
        return
    if not params.text("fn_in"):
        raise ValueError("give the movie particles of a MovieRefine job (--fn_in) or RELION 5's refined particles "
                         "(--fn_data)")
    if params.flag("do_bayesian_polish"):
        if not params.text("fn_post"):
            raise ValueError("Bayesian polishing needs the half-maps (--fn_post)")
    elif params.flag("do_bfactor_weighting") and not params.text("fn_mask"):
        raise ValueError("B-factor weighting needs a mask for the reconstructions (--fn_mask)")
    if params.integer("average_frame_bfactor") % 2 == 0:
        raise ValueError("--average_frame_bfactor must be odd (1, 3, 5, ...)")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [OutputNode(SHINY, POLISH_PARTICLES), OutputNode(LOGFILE, POLISH_LOG)]


class MovieInput:
    """A movie-particle STAR file: the rows regrouped per particle (:class:`MovieParticles`), and per
    particle its columns (those of its first frame group), stack, subset (1/2, alternating where
    unset), CTF and micrograph."""

    def __init__(self, path: str) -> None:
        blocks = read_star(path)
        table, optics = blocks.get("particles"), blocks.get("optics")
        if not isinstance(table, Table) or not isinstance(optics, Table):
            raise InputError(path, "expected data_optics and data_particles tables (the output of MovieRefine)")
        columns = with_optics(table, optics)
        if "rlnImagePixelSize" not in columns:
            raise InputError(path, "no rlnImagePixelSize in its optics table")
        self.path, self.optics = path, optics
        self.pixel = float(np.asarray(columns["rlnImagePixelSize"])[0])
        self.movie: MovieParticles = group_movie_particles(table, self.pixel, path)
        first = self.movie.first_rows
        self.columns = {k: (np.asarray(v)[first] if np.ndim(v) else v) for k, v in columns.items()}
        self.stacks, self.stack_index = self.movie.stack_positions()
        self.micrographs = np.asarray(self.columns["rlnMicrographName"]).astype(str)
        n = len(first)
        subsets = (np.asarray(self.columns["rlnRandomSubset"], np.int64) if "rlnRandomSubset" in self.columns
                   else np.zeros(n, np.int64))
        self.subsets = np.where(np.isin(subsets, (1, 2)), subsets, np.arange(n) % 2 + 1)
        self.ctf = CtfParams.from_columns(self.columns) if "rlnDefocusU" in self.columns else None
        self.box = int(np.asarray(columns["rlnImageSize"])[0]) if "rlnImageSize" in columns else None

    def positions(self, priors: np.ndarray) -> np.ndarray:
        """Particle positions (P, 2) on their micrographs (px): coordinates − prior offsets."""
        return np.stack([np.asarray(self.columns["rlnCoordinateX"], float),
                         np.asarray(self.columns["rlnCoordinateY"], float)], axis=1) - priors


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Fit tracks, estimate frame weights, write shiny particles, bfactors.star and logfile.pdf."""
    relion5 = uses_relion5_inputs(params)
    if relion5:
        params = translate(job_dir, params, ctx)
    data = MovieInput(params.text("fn_in"))
    measured, priors = data.movie.offsets(), data.movie.priors()
    positions = data.positions(priors)
    box = data.box or read_movie_particles(data.stacks[0], data.stack_index[:1], len(data.movie.numbers)).shape[-1]
    ctx.log.info(" %d particles × %d frame groups from %d micrograph(s)", len(measured), measured.shape[1],
                 len(np.unique(data.micrographs)))
    bayesian = params.flag("do_bayesian_polish")
    damage = _damage(params, data, box) if bayesian else None
    if ctx.is_continue and (job_dir / TRACKS).is_file():
        ctx.log.info(" + %s already exists: skipping the fits of the tracks", job_dir / TRACKS)
        fitted = _read_tracks(job_dir / TRACKS, data)
    elif bayesian:
        fitted = _bayesian_tracks(params, data, priors, positions, damage, box, ctx)
    elif params.flag("do_fit_movement"):
        window = data.movie.window or params.integer("movie_runavg_window")
        _, mic_ids = np.unique(data.micrographs, return_inverse=True)
        fitted = fit_straight_tracks(measured, priors, positions, mic_ids, params.number("sigma_nb"), window)
    else:
        fitted = measured
    if not (ctx.is_continue and (job_dir / TRACKS).is_file()):
        _write_tracks(job_dir / TRACKS, data, fitted)
    weights, plot = None, None
    if bayesian:
        weights = dose_frame_weights(damage)
    elif params.flag("do_bfactor_weighting"):
        bfactors, intercepts, plot = _bfactors(job_dir, params, data, fitted, box, ctx)
        weights = frame_weights(bfactors, intercepts, box, data.pixel)
    if ctx.is_continue and (job_dir / SHINY).is_file():
        ctx.log.info(" + %s already exists: skipping polishing of the particles", job_dir / SHINY)
    else:
        _write_shiny(job_dir, params, data, fitted, priors, weights, box, ctx,
                     np.float16 if relion5 and params.flag("do_float16") else np.float32)
    pages = [TrackPage(name, positions[data.micrographs == name], measured[data.micrographs == name],
                       fitted[data.micrographs == name]) for name in dict.fromkeys(data.micrographs)]
    write_polish_logfile(job_dir / LOGFILE, pages, plot)
    ctx.log.info(" Written %s and %s", job_dir / SHINY, job_dir / LOGFILE)


def _write_tracks(path: Path, data: MovieInput, fitted: np.ndarray) -> None:
    """The movie-particle rows with the fitted offsets (RELION's _fit.star files, in one)."""
    table = data.movie.table.copy()
    for axis, label in enumerate(ORIGINS):
        values = np.asarray(table[label], float).copy()
        values[data.movie.index] = fitted[..., axis] * data.pixel
        table[label] = values
    write_star(path, {"optics": data.optics, "particles": table}, version=STAR_VERSION)


def _read_tracks(path: Path, data: MovieInput) -> np.ndarray:
    """Fitted offsets (P, G, 2) px from an earlier run's fitted_tracks.star (same rows as the input)."""
    table = read_star(path).get("particles")
    if not isinstance(table, Table) or len(table) != len(data.movie.table):
        raise InputError(path, "does not match the movie particles of this job's input; remove it to fit again")
    return np.stack([np.asarray(table[label], float)[data.movie.index] for label in ORIGINS], axis=-1) / data.pixel


def _damage(params: Params, data: MovieInput, box: int) -> torch.Tensor:
    dose = params.number("dose_per_frame")
    starts = params.number("pre_exposure") + (data.movie.numbers - 1) * dose
    exposures = np.stack([starts, starts + data.movie.group_size * dose], axis=1)
    voltage = float(np.asarray(data.columns.get("rlnVoltage", 300.0)).reshape(-1)[0])
    return group_damage(box, data.pixel, exposures, voltage)


def half_map_paths(fn_post: str) -> dict[int, Path]:
    """Half-maps from a PostProcess STAR file (rlnUnfilteredMapHalf1/2) or a half1 map's name."""
    if fn_post.endswith(".star"):
        general = read_star(fn_post).get("general")
        if not isinstance(general, dict) or "rlnUnfilteredMapHalf1" not in general:
            raise InputError(fn_post, "no rlnUnfilteredMapHalf1/2 in its data_general block")
        return {1: Path(str(general["rlnUnfilteredMapHalf1"])), 2: Path(str(general["rlnUnfilteredMapHalf2"]))}
    if "half1" not in Path(fn_post).name:
        raise InputError(fn_post, "expected a *half1*.mrc map (with its half2 beside it) or a postprocess.star")
    return {1: Path(fn_post), 2: Path(other_half(fn_post))}


def _bayesian_tracks(params: Params, data: MovieInput, priors: np.ndarray, positions: np.ndarray,
                     damage: torch.Tensor, box: int, ctx: JobContext) -> np.ndarray:
    """Per-particle tracks (P, G, 2) px fitted micrograph by micrograph (:mod:`vitreo.polish.bayesian`)."""
    maps = half_map_paths(params.text("fn_post"))
    for path in maps.values():
        if not path.is_file():
            raise InputError(path, "half-map not found")
    references = load_references(maps, box, data.pixel)
    angles = data.movie.prior_angles()
    motion = MotionPriors(params.number("sigma_vel"), params.number("sigma_div"), params.number("sigma_acc"))
    dose_per_group = params.number("dose_per_frame") * data.movie.group_size
    fitted = np.zeros((len(priors), len(data.movie.numbers), 2))
    names = list(dict.fromkeys(data.micrographs))
    ctx.progress.start("Bayesian polishing", len(names))
    for name in names:
        ctx.check_abort()
        rows = np.flatnonzero(data.micrographs == name)
        rotations = euler_degrees_to_matrix(*(torch.from_numpy(np.ascontiguousarray(angles[rows, i]))
                                              for i in range(3))).to(torch.float32)
        for stack in np.unique(data.stacks[rows]):
            local = np.flatnonzero(data.stacks[rows] == stack)
            part = rows[local]
            fitted[part] = micrograph_tracks(stack, data.stack_index[part], len(data.movie.numbers), references,
                                             rotations[torch.from_numpy(local)], data.subsets[part],
                                             None if data.ctf is None else data.ctf[torch.from_numpy(part)],
                                             priors[part], positions[part], damage, dose_per_group, data.pixel, motion)
        ctx.progress.advance()
    ctx.progress.finish()
    return fitted


def _bfactors(job_dir: Path, params: Params, data: MovieInput, fitted: np.ndarray, box: int,
              ctx: JobContext) -> tuple[np.ndarray, np.ndarray, BfactorPlot]:
    """Per-frame B-factors and intercepts: from bfactors.star on Continue, else from the frame maps."""
    numbers = data.movie.numbers
    star = job_dir / BFACTORS
    if ctx.is_continue and star.is_file():
        ctx.log.info(" + %s already exists: skipping calculation of per-frame B-factors", star)
        table = read_star(star)["perframe_bfactors"]
        bfactors = np.asarray(table["rlnBfactorUsedForSharpening"], float)
        intercepts = np.asarray(table["rlnFittedInterceptGuinierPlot"], float)
        points = [_read_guinier(job_dir / f"frame{number:03d}_guinier.star") for number in numbers]
        return bfactors, intercepts, BfactorPlot(numbers, bfactors, intercepts, points)
    mask, _ = read_mrc(params.text("fn_mask"))
    if mask.shape != (box,) * 3:
        raise InputError(params.text("fn_mask"), f"mask of {mask.shape[-1]} px does not match the particles' {box} px box")
    maps = _frame_maps(job_dir, params, data, fitted, box, ctx)
    average = [sum(m[h] for m in maps) for h in (0, 1)]
    for h in (0, 1):
        write_mrc(job_dir / f"avgframes_half{h + 1}_class001_unfil.mrc", average[h].numpy(), data.pixel)
    lowres, highres = params.number("perframe_bfac_lowres"), params.number("perframe_highres")
    fits = fit_frames(maps, average, torch.from_numpy(mask), data.pixel, lowres, highres)
    for number, fit in zip(numbers, fits):
        _write_guinier(job_dir / f"frame{number:03d}_guinier.star", fit)
    bfactors = np.array([f.bfactor for f in fits])
    intercepts = np.array([f.intercept for f in fits])
    bad = numbers[~np.isfinite(bfactors)]
    if len(bad):
        raise InputError(None, f"the B-factor of movie frame(s) {', '.join(map(str, bad))} is NaN: fewer than 3 shells "
                               f"between {lowres:g} and {highres:g} Å have signal in its relative Guinier plot (the "
                               "all-frames map's FSC above 0.143 and the frame correlating positively with it); "
                               "average more frames in the B-factor estimation (--average_frame_bfactor 3, 5, ...) or give a "
                               "larger low-resolution limit in Å (--perframe_bfac_lowres)")
    write_star(star, {"perframe_bfactors": Table({
        "rlnMovieFrameNumber": numbers, "rlnBfactorUsedForSharpening": bfactors,
        "rlnFittedInterceptGuinierPlot": intercepts,
        "rlnCorrelationFitGuinierPlot": np.array([f.correlation for f in fits])})}, version=STAR_VERSION)
    ctx.log.info(" Written %s", star)
    return bfactors, intercepts, BfactorPlot(numbers, bfactors, intercepts, [(f.s2, f.values) for f in fits])


def _write_guinier(path: Path, fit: GuinierFit) -> None:
    """A frame's relative Guinier plot, as RELION's frameNNN_guinier.star (ln(a_g/A) against s², 1/Å²)."""
    write_star(path, {"relative_guinier": Table({"rlnResolutionSquared": fit.s2, "rlnLogAmplitudesOriginal":
                                                 fit.values})}, version=STAR_VERSION)


def _read_guinier(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The points (s², ln(a_g/A)) of a frame's relative Guinier plot; none when the file is missing or empty."""
    table = read_star(path).get("relative_guinier") if path.is_file() else None
    if not isinstance(table, Table):
        return np.empty(0), np.empty(0)
    return np.asarray(table["rlnResolutionSquared"], float), np.asarray(table["rlnLogAmplitudesOriginal"], float)


def _frame_maps(job_dir: Path, params: Params, data: MovieInput, fitted: np.ndarray, box: int,
                ctx: JobContext) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each frame group's half-maps, read back on Continue when both files exist."""
    numbers = data.movie.numbers
    angles = data.movie.prior_angles()
    maps = []
    ctx.progress.start("per-frame reconstructions", len(numbers))
    for g, number in enumerate(numbers):
        files = [job_dir / f"frame{number:03d}_half{h}_class001_unfil.mrc" for h in (1, 2)]
        if ctx.is_continue and all(f.is_file() for f in files):
            maps.append(tuple(torch.from_numpy(read_mrc(f)[0]) for f in files))
        else:
            halves = frame_half_maps(data.stacks, data.stack_index, len(numbers),
                                     window_groups(g, len(numbers), params.integer("average_frame_bfactor")), fitted,
                                     angles, data.subsets, data.ctf, data.pixel, box, params.text("sym_name"),
                                     params.number("perframe_highres"), ctx.check_abort)
            for f, volume in zip(files, halves):
                write_mrc(f, volume.numpy(), data.pixel)
            maps.append(halves)
        ctx.progress.advance()
    ctx.progress.finish()
    return maps


def _write_shiny(job_dir: Path, params: Params, data: MovieInput, fitted: np.ndarray, priors: np.ndarray,
                 weights: torch.Tensor | None, box: int, ctx: JobContext, dtype: type = np.float32) -> None:
    """Shiny stacks (of ``dtype``) per micrograph and shiny.star (the averaged particles' rows, new images)."""
    radius = bg_radius_for(params.number("bg_diameter"), box, 0)
    names = np.empty(len(priors), dtype=object)
    n_groups = len(data.movie.numbers)
    micrographs = list(dict.fromkeys(data.micrographs))
    ctx.progress.start("shiny particles", len(micrographs))
    for name in micrographs:
        ctx.check_abort()
        rows = np.flatnonzero(data.micrographs == name)
        images = torch.empty((len(rows), box, box))
        for stack in np.unique(data.stacks[rows]):
            in_stack = np.flatnonzero(data.stacks[rows] == stack)
            for start in range(0, len(in_stack), CHUNK):
                local = in_stack[start:start + CHUNK]
                part = rows[local]
                frames = read_movie_particles(stack, data.stack_index[part], n_groups)
                images[torch.from_numpy(local)] = shiny_images(
                    frames, torch.from_numpy(fitted[part]), torch.from_numpy(priors[part]), weights, radius,
                    params.number("white_dust"), params.number("black_dust"))
        target = coordinate_file_for(name, "_shiny.mrcs", job_dir)
        write_mrc(target, images.numpy(), data.pixel, is_stack=True, dtype=dtype)
        names[rows] = [f"{i + 1:06d}@{target}" for i in range(len(rows))]
        ctx.progress.advance()
    ctx.progress.finish()
    table = data.movie.table.select(data.movie.first_rows)
    table["rlnImageName"] = names
    for label, prior in zip(ORIGINS, ("rlnOriginXPriorAngst", "rlnOriginYPriorAngst")):
        table[label] = np.asarray(table[prior], float)
    for label, prior in zip(ANGLES, ("rlnAngleRotPrior", "rlnAngleTiltPrior", "rlnAnglePsiPrior")):
        table[label] = np.asarray(table[prior], float)
    for label in MOVIE_COLUMNS:
        if label in table:
            del table[label]
    write_star(job_dir / SHINY, {"optics": data.optics, "particles": table}, version=STAR_VERSION)


def job_spec() -> JobSpec:
    """The Polish job type."""
    return JobSpec(
        directory="Polish",
        type_label="relion.polish",
        title="Particle polishing",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        continue_rule=ContinueRule.RESTART,
        gentle_clean=("frame*_half*_class001_unfil.mrc",),
        harsh_clean=("**/*_shiny.mrcs", "**/*_movie.mrcs", "avgframes_half*_class001_unfil.mrc"),
        hidden_name=".gui_polish",
        summary="Polish particles: fit their tracks, weight frames by B-factors (or Bayesian polishing), write shiny "
                "particles.",
    )


__all__ = ["job_spec", "run", "half_map_paths", "MovieInput"]
