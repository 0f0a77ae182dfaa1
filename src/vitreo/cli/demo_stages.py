"""The RELION 2.1 tutorial's jobs as a scheme (:mod:`vitreo.pipeline.scheme`), with the tutorial's
parameters scaled to a simulated dataset.

Sizes follow the data: patches of about 400 px for motion correction, a CTF box of 512 px on
micrographs of 1536 px or more (else 256), CTF fitting to 2.5 × the pixel size, the particle
diameter measured on the true map (× 1.1, as a person would draw the mask a little wider) and
the tutorial's 200 Å minimum distance between picks scaled to the diameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitreo.io.coords import write_coordinates
from vitreo.io.star import read_star
from vitreo.io.table import Table
from vitreo.jobs.motioncorr_movie import output_root
from vitreo.pipeline.scheme import Deferred, Stage
from vitreo.simulate.config import SimulationConfig

#: Folder (in the project) of the coordinates that stand in for a person's manual picks: the
#: movies' folder, so that RELION's coordinate rule pairs them with the corrected micrographs.
PICKS_DIR = "Micrographs"
PICKS_SUFFIX = "_manualpick.star"


@dataclass(frozen=True)
class DemoData:
    """What the stages need to know about the simulated data."""

    config: SimulationConfig
    diameter: float  # Å, of the particle
    mtf: str  # the detector MTF file in the project ('' for none)

    @property
    def mask_diameter(self) -> float:
        """The particle mask diameter (Å) a person would choose: 10% wider than the particle."""
        return round(1.1 * self.diameter)


def write_person_picks(root: Path, per_micrograph: int, error_px: float, seed: int) -> int:
    """Coordinates a person would click: ``per_micrograph`` true particle positions per movie,
    each off by a Gaussian error of ``error_px`` pixels; files ``Micrographs/<micrograph>_manualpick.star``
    (named after the motion-corrected micrograph, as RELION's coordinate rule wants). Returns the
    number of picks."""
    blocks = read_star(root / "truth" / "particles.star")
    truth, pixel = blocks["particles"], float(blocks["optics"]["rlnImagePixelSize"][0])
    rng = np.random.default_rng(seed)
    names = np.asarray(truth["rlnMicrographName"])
    is_particle = np.asarray(truth["rlnVitreoObjectType"]) == "particle"
    total = 0
    for name in sorted(set(names.tolist())):
        rows = np.flatnonzero((names == name) & is_particle)
        chosen = rng.choice(rows, size=min(per_micrograph, len(rows)), replace=False)
        centres = {axis: truth[f"rlnCoordinate{axis}"][chosen] - truth[f"rlnOrigin{axis}Angst"][chosen] / pixel
                   + rng.normal(0.0, error_px, len(chosen)) for axis in "XY"}
        table = Table({f"rlnCoordinate{axis}": np.round(values, 1) for axis, values in centres.items()})
        write_coordinates(root / f"{output_root('', name)}{PICKS_SUFFIX}", table)
        total += len(chosen)
    return total


def preprocessing_stages(data: DemoData) -> list[Stage]:
    """Import, MotionCorr, CtfFind, the imported manual picks, ManualPick and the first Extract."""
    c = data.config
    size = min(c.micrograph_size)
    patches = str(max(1, round(size / 400)))
    ctf_box = "512" if size >= 1536 else "256"
    return [
        Stage("movies", "relion.import", {
            "do_raw": "Yes", "fn_in_raw": "Micrographs/*_movie.mrcs", "is_multiframe": "Yes",
            "angpix": f"{c.pixel_size}", "kV": f"{c.voltage:g}", "Cs": f"{c.cs:g}", "Q0": f"{c.amplitude_contrast:g}",
            "fn_mtf": data.mtf}, "Import the movies"),
        Stage("motioncorr", "relion.motioncorr", {
            "input_star_mics": "{movies}movies.star", "dose_per_frame": f"{c.dose_per_frame:g}",
            "pre_exposure": f"{c.pre_exposure:g}", "bfactor": "150", "patch_x": patches, "patch_y": patches,
            "do_save_noDW": "Yes", "other_args": "--save_movies"}, "Beam-induced motion correction"),
        Stage("ctffind", "relion.ctffind", {
            # Tiles of the non-dose-weighted micrograph rather than MotionCorr's frame-group spectrum: on the
            # quick preset's 1024² micrographs the mean defocus was off by 107 Å (median) against 174 Å.
            "input_star_mics": "{motioncorr}corrected_micrographs.star", "use_noDW": "Yes", "use_given_ps": "No",
            "box": ctf_box,
            "resmin": "30", "resmax": f"{max(5.0, 2.5 * c.pixel_size):.1f}", "dfmin": "5000", "dfmax": "50000",
            "dfstep": "500", "dast": "100"}, "CTF estimation"),
        Stage("picks", "relion.import", {
            "do_raw": "No", "do_other": "Yes", "fn_in_other": f"{PICKS_DIR}/*{PICKS_SUFFIX}",
            "node_type": "Particle coordinates (*.box, *_pick.star)"}, "Import the manual picks"),
        Stage("manualpick", "relion.manualpick", {
            "fn_in": "{ctffind}micrographs_ctf.star", "fn_coords": "{picks}coords_suffix" + PICKS_SUFFIX,
            "diameter": f"{data.mask_diameter:g}", "angpix": f"{c.pixel_size}"}, "Manual picking"),
        Stage("extract_manual", "relion.extract", {
            "star_mics": "{ctffind}micrographs_ctf.star", "coords_suffix": "{manualpick}manualpick.star",
            "extract_size": f"{c.box}", "do_invert": "Yes", "do_norm": "Yes", "bg_diameter": "-1",
            "white_dust": "-1", "black_dust": "-1"}, "Extract the manual picks"),
    ]


@dataclass(frozen=True)
class DemoScale:
    """How much work the classification stages do: classes and iterations."""

    classes_manual: int = 6
    classes_auto: int = 20
    classes_3d: int = 3
    iterations_2d: int = 25
    iterations_3d: int = 25
    sgd_iterations: tuple[int, int, int] = (50, 200, 50)  # initial, in-between, final (RELION's)
    sgd_halflife: float = 1000.0  # sgd_sigma2fudge_halflife, particles (RELION's help: ~1000 for difficult data)
    sampling_3d: str = "7.5 degrees"  # Class3D's and Refine3D's initial angular sampling
    sampling_polished: str = "0.9 degrees"  # the shiny particles' Refine3D: local searches from this sampling
    frames_per_bfactor: int = 1  # Polish's average_frame_bfactor: frames per B-factor reconstruction
    faster_sampling: bool = False  # Refine3D's auto_faster ("Use finer angular sampling faster?")
    symmetry: str = "D2"


#: Folder (in the project) of maps a person would prepare by hand between jobs.
REFERENCES_DIR = "References"


def aligned_map(source: str, name: str, symmetry: str) -> Deferred:
    """A deferred value: the map ``source`` (``{alias}`` allowed) turned so that its symmetry axes
    follow RELION's conventions (``vitreo image align-symmetry --centre``), written to
    ``References/<name>.mrc``; the tutorial does this by hand."""

    def prepare(root: Path, jobs: Mapping[str, str]) -> str:
        from vitreo.cli.image_align import align_symmetry_command

        resolved = source.format_map(jobs)
        target = f"{REFERENCES_DIR}/{name}.mrc"
        align_symmetry_command(root / resolved, root / target, symmetry, centre=True)
        return target

    return prepare


def most_populated_class(alias: str, iteration: int) -> Deferred:
    """A deferred value: the map of the most populated class of a Class3D run's iteration."""

    def choose(root: Path, jobs: Mapping[str, str]) -> str:
        model = read_star(root / jobs[alias] / f"run_it{iteration:03d}_model.star")["model_classes"]
        names = list(model["rlnReferenceImage"])
        return str(names[int(np.argmax(model["rlnClassDistribution"]))])

    return choose


def postprocess_general(root: Path, jobs: Mapping[str, str], alias: str) -> dict | None:
    """The data_general block of PostProcess ``alias``'s postprocess.star; None when the stage did not
    run or wrote no such file."""
    path = root / jobs[alias] / "postprocess.star" if alias in jobs else None
    if path is None or not path.is_file():
        return None
    return read_star(path)["general"]


def _postprocess_figure(root: Path, jobs: Mapping[str, str], alias: str, label: str) -> float:
    general = postprocess_general(root, jobs, alias)
    if general is None:
        raise ValueError(f"stage {alias} wrote no postprocess.star")
    return float(general[label])


def sharpening_bfactor(alias: str) -> Deferred:
    """A deferred value: the B-factor PostProcess sharpened with (for LocalRes)."""

    def read(root: Path, jobs: Mapping[str, str]) -> str:
        return f"{_postprocess_figure(root, jobs, alias, 'rlnBfactorUsedForSharpening'):.2f}"

    return read


#: Auto B-factor needs Guinier points beyond autob_lowres (10 Å): refined maps worse than this are
#: post-processed without sharpening, as a person would choose.
AUTO_BFACTOR_RESOLUTION = 8.0


def sharpen_automatically(alias: str, wanted: bool) -> Deferred:
    """A deferred Yes/No: whether Refine3D ``alias`` reached :data:`AUTO_BFACTOR_RESOLUTION`
    (``wanted`` True), or did not (``wanted`` False)."""

    def decide(root: Path, jobs: Mapping[str, str]) -> str:
        general = read_star(root / jobs[alias] / "run_model.star")["model_general"]
        reached = float(general["rlnCurrentResolution"]) <= AUTO_BFACTOR_RESOLUTION
        return "Yes" if reached == wanted else "No"

    return decide


def mask_threshold(alias: str, file: str, lowpass: float) -> Deferred:
    """A deferred value: the binarisation threshold a person would read off the map in a viewer —
    10% of the maximum of the map low-pass filtered to ``lowpass`` Å."""

    def choose(root: Path, jobs: Mapping[str, str]) -> str:
        import torch

        from vitreo.em.filters import lowpass as lowpass_filter
        from vitreo.io.mrc import read_mrc

        volume, pixel = read_mrc(root / jobs[alias] / file)
        filtered = lowpass_filter(torch.from_numpy(volume).double(), lowpass, float(pixel))
        return f"{0.1 * float(filtered.max()):.6g}"

    return choose


def ml_params(data: DemoData, threads: int) -> dict[str, str]:
    """The parameters every ML job of the demo shares."""
    return {"do_preread_images": "Yes", "nr_threads": str(threads), "particle_diameter": f"{data.mask_diameter:g}"}


def postprocess_params(refine: str, data: DemoData) -> dict[str, str | Deferred]:
    """PostProcess of Refine3D ``refine`` with the demo's mask, MTF and sharpening choice."""
    return {"fn_in": "{" + refine + "}run_half1_class001_unfil.mrc", "fn_mask": "{mask}mask.mrc", "autob_lowres": "10",
            "do_auto_bfac": sharpen_automatically(refine, True), "do_adhoc_bfac": sharpen_automatically(refine, False),
            "adhoc_bfac": "0", "fn_mtf": data.mtf, "mtf_angpix": f"{data.config.pixel_size}"}


def classification_stages(data: DemoData, scale: DemoScale, threads: int) -> list[Stage]:
    """Class2D of the manual picks, Select of templates, AutoPick, Extract, Sort, Class2D, Select,
    InitialModel, Class3D, Select, Refine3D, MaskCreate, PostProcess and LocalRes."""
    c = data.config
    diameter = f"{data.mask_diameter:g}"
    it2, it3 = scale.iterations_2d, scale.iterations_3d
    ml = ml_params(data, threads)
    return [
        Stage("class2d_manual", "relion.class2d", {
            **ml, "fn_img": "{extract_manual}particles.star", "nr_classes": str(scale.classes_manual),
            "tau_fudge": "2", "nr_iter_em": str(it2), "do_center": "Yes"}, "2D classification of the manual picks"),
        Stage("templates", "relion.select", {
            "fn_model": "{class2d_manual}" + f"run_it{it2:03d}_optimiser.star", "do_class_ranker": "Yes",
            "do_recenter": "Yes"}, "Select templates for auto-picking"),
        Stage("autopick", "relion.autopick", {
            "fn_input_autopick": "{ctffind}micrographs_ctf.star", "do_refs": "Yes",
            "fn_refs_autopick": "{templates}class_averages.star", "lowpass": "20", "psi_sampling_autopick": "5",
            "do_ctf_autopick": "Yes", "threshold_autopick": "5", "mindist_autopick": f"{min_distance(data):g}",
            "maxstddevnoise_autopick": "1.2", "particle_diameter": diameter},
              "Template-based auto-picking"),
        Stage("extract_auto", "relion.extract", {
            "star_mics": "{ctffind}micrographs_ctf.star", "coords_suffix": "{autopick}autopick.star",
            "extract_size": f"{c.box}", "do_invert": "Yes", "do_norm": "Yes", "bg_diameter": "-1"},
              "Extract the auto-picked particles"),
        Stage("sort", "relion.sort", {
            "input_star": "{extract_auto}particles.star", "autopick_refs": "{autopick}references.star",
            "particle_diameter": diameter}, "Particle sorting"),
        Stage("class2d_auto", "relion.class2d", {
            **ml, "fn_img": "{sort}particles_sort.star", "nr_classes": str(scale.classes_auto), "tau_fudge": "2",
            "nr_iter_em": str(it2), "do_center": "Yes"}, "2D classification of all particles"),
        Stage("good2d", "relion.select", {
            "fn_model": "{class2d_auto}" + f"run_it{it2:03d}_optimiser.star", "do_class_ranker": "Yes"},
              "Select the good 2D classes"),
        Stage("initialmodel", "relion.initialmodel", {
            # in C1, as the tutorial: on one quick dataset C1 gave 19.1–20.0 Å (FSC 0.5 against the truth, five
            # runs) and D2 21.5–29.5 Å (nine), and a D2 map makes the C1 Class3D twice as costly (broad posteriors
            # over its equivalent orientations); the noise inflation keeps the first subsets from locking in
            **ml, "fn_img": "{good2d}particles.star", "sym_name": "C1",
            "sgd_sigma2fudge_halflife": f"{scale.sgd_halflife:g}",
            **dict(zip(("sgd_ini_iter", "sgd_inbetween_iter", "sgd_fin_iter"), map(str, scale.sgd_iterations)))},
              "De novo initial model (SGD)"),
        Stage("class3d", "relion.class3d", {
            **ml, "fn_img": "{good2d}particles.star",
            "fn_ref": aligned_map("{initialmodel}initial_model.mrc", "initial_model_aligned", scale.symmetry),
            # in C1, as the tutorial (in D2, one quick run split into three equivalent classes and refined to a
            # map of 24 Å against the truth); its second iteration, over a 33-Å reference, costs a quarter of it
            "nr_classes": str(scale.classes_3d), "ini_high": "50", "sym_name": "C1", "tau_fudge": "4",
            "nr_iter": str(it3), "sampling": scale.sampling_3d}, "3D classification"),
        Stage("good3d", "relion.select", {
            "fn_model": "{class3d}" + f"run_it{it3:03d}_optimiser.star", "min_class_distribution": "0.15"},
              "Select the good 3D classes"),
        Stage("refine3d", "relion.refine3d", {
            **ml, "fn_img": "{good3d}particles.star",
            "fn_ref": _then_aligned(most_populated_class("class3d", it3), "best_class3d_aligned", scale.symmetry),
            "ini_high": "50", "sym_name": scale.symmetry, "sampling": scale.sampling_3d,
            "auto_local_sampling": "1.8 degrees", "auto_faster": _yes_no(scale.faster_sampling)},
              "Gold-standard 3D auto-refine"),
        Stage("mask", "relion.maskcreate", {
            "fn_in": "{refine3d}run_class001.mrc", "lowpass_filter": "15",
            "inimask_threshold": mask_threshold("refine3d", "run_class001.mrc", 15.0), "extend_inimask": "3",
            "width_mask_edge": "3"}, "Mask creation"),
        Stage("postprocess", "relion.postprocess", postprocess_params("refine3d", data), "Post-processing"),
        Stage("localres", "relion.localres", {
            "fn_in": "{refine3d}run_half1_class001_unfil.mrc", "fn_mask": "{mask}mask.mrc",
            "do_relion_locres": "Yes", "adhoc_bfac": sharpening_bfactor("postprocess"), "fn_mtf": data.mtf},
              "Local resolution"),
    ]


#: MovieRefine's running average (frames) and prior stddev on the per-frame offsets (pixels): the tutorial's.
MOVIE_WINDOW, MOVIE_SIGMA_OFFSET = 5, 1


def postprocess_resolution(alias: str, factor: float = 1.0, at_least: float = 0.0) -> Deferred:
    """A deferred value: PostProcess ``alias``'s gold-standard resolution (Å) × ``factor``, and no
    less than ``at_least`` Å."""

    def read(root: Path, jobs: Mapping[str, str]) -> str:
        return f"{max(at_least, factor * _postprocess_figure(root, jobs, alias, 'rlnFinalResolution')):.2f}"

    return read


def polishing_stages(data: DemoData, scale: DemoScale, threads: int) -> list[Stage]:
    """MovieRefine, Polish (B-factor weighting, as RELION 2.1), a Refine3D of the shiny particles and
    its PostProcess.

    The shiny particles keep their refined orientations, offsets and half-sets: their Refine3D starts
    from the first refinement's map low-passed to its gold-standard resolution, with local searches
    from its finest sampling (``sampling_polished``; RELION starts local searches at once when the
    initial sampling reaches ``auto_local_sampling``). Starting again at 1.8° took 11 iterations
    (598 s) on the quick data against 5 from 0.9°, for the same resolution."""
    c = data.config
    ml = ml_params(data, threads)
    return [
        Stage("movierefine", "relion.movierefine", {
            "fn_cont": "{refine3d}run_data.star", "fn_movie_star": "{motioncorr}corrected_micrograph_movies.star",
            "movie_rootname": "movie", "extract_size": f"{c.box}", "do_invert": "Yes", "do_norm": "Yes",
            "bg_diameter": "-1", "movie_runavg_window": str(MOVIE_WINDOW), "movie_sigma_offset": str(MOVIE_SIGMA_OFFSET),
            "nr_threads": str(threads)}, "Movie refinement"),
        Stage("polish", "relion.polish", {
            "fn_in": "{movierefine}" + f"run_avg{MOVIE_WINDOW}_off{MOVIE_SIGMA_OFFSET}_data.star",
            "fn_mask": "{mask}mask.mrc", "sym_name": scale.symmetry, "sigma_nb": "100",
            # relative Guinier fits from the tutorial's 20 Å (or twice the resolution of a worse map) to the map's resolution
            "perframe_highres": postprocess_resolution("postprocess"),
            "perframe_bfac_lowres": postprocess_resolution("postprocess", factor=2.0, at_least=20.0),
            "average_frame_bfactor": str(scale.frames_per_bfactor), "nr_threads": str(threads)}, "Particle polishing"),
        Stage("refine_shiny", "relion.refine3d", {
            **ml, "fn_img": "{polish}shiny.star", "fn_ref": "{refine3d}run_class001.mrc",
            "ini_high": postprocess_resolution("postprocess"), "sym_name": scale.symmetry,
            "sampling": scale.sampling_polished, "auto_local_sampling": scale.sampling_polished,
            "auto_faster": _yes_no(scale.faster_sampling),
            # the offsets where the first refinement ended (±0.7 px in steps of 0.23 px on the quick data): a
            # refinement that starts this fine never refines its offset step (1-px steps: 10.59 Å after
            # PostProcess; these: 9.23 Å)
            "offset_range": "0.75", "offset_step": "0.25"}, "3D auto-refine of the polished particles"),
        Stage("postprocess_shiny", "relion.postprocess", postprocess_params("refine_shiny", data),
              "Post-processing of the polished map"),
    ]


def _yes_no(flag: bool) -> str:
    return "Yes" if flag else "No"


def _then_aligned(choose: Deferred, name: str, symmetry: str) -> Deferred:
    def prepare(root: Path, jobs: Mapping[str, str]) -> str:
        return aligned_map(choose(root, jobs), name, symmetry)(root, jobs)

    return prepare


def min_distance(data: DemoData) -> float:
    """The tutorial's minimum inter-particle distance for auto-picking, scaled to the particle
    (180 Å for betagal's 200 Å)."""
    return math.floor(0.9 * data.diameter)


__all__ = ["DemoData", "DemoScale", "PICKS_DIR", "PICKS_SUFFIX", "REFERENCES_DIR", "write_person_picks",
           "preprocessing_stages", "classification_stages", "polishing_stages", "ml_params", "postprocess_params",
           "postprocess_general", "postprocess_resolution", "aligned_map", "most_populated_class",
           "sharpening_bfactor", "mask_threshold", "min_distance"]
