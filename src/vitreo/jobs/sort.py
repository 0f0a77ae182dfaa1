"""The Sort job type (RELION 2's "Particle sorting", ``relion_particle_sort``): rlnParticleSelectZScore.

Input particles come from an Extract job of auto-picked particles (their rlnClassNumber and
rlnAnglePsi index the picking references; give ``autopick_refs``, e.g. AutoPick's
``references.star``) or from a classification (``_data.star`` with the references of its
``_model.star`` in ``model_refs``). Each particle is compared with its aligned, CTF-corrected
reference (:mod:`vitreo.picking.sorting`) and ``particles_sort.star`` is the input with
rlnParticleSelectZScore added (high: unlike its reference). ``logfile.pdf`` shows their spread.
RELION 3.1 dropped this job; its options are RELION 3.0's plus vitreo's mask diameter and
low-pass filter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.io.errors import InputError
from vitreo.io.image_refs import read_images
from vitreo.io.optics import with_optics
from vitreo.io.star import Table, read_star, write_star
from vitreo.io.star_convert import convert_to_relion31, is_pre31
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.jobs.star_tables import STAR_VERSION
from vitreo.picking.references import estimate_diameter, match_box, read_references_2d
from vitreo.picking.sorting import SortSettings, sort_particles
from vitreo.plots.picking_plots import plot_picking_log

OUTPUT = "particles_sort.star"
LOGFILE = "logfile.pdf"
PARTS_LABEL = "ParticleGroupMetadata.star.relion.sort"
LOG_LABEL = "LogFile.pdf.relion.sort"
UNSET = -999.0


def _options() -> tuple[JobOption, ...]:
    num, yes_no = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        JobOption("input_star", "Input particles to be sorted:", "", OptionKind.INPUT_NODE, "I/O",
                  "This STAR file should contain in-plane rotations, in-plane translations and a class number that "
                  "were obtained by alignment (class2D/class3D or auto3D) OR auto-picking. A column called "
                  "rlnParticleSelectZScore will be added with the sorting result.",
                  node_type=node_types.PARTICLES, pattern="Input particles(*.{star})"),
        JobOption("model_refs", "References from model.star:", "", OptionKind.FILE, "I/O",
                  "This model.STAR file should correspond to the refinement/classification performed with the input "
                  "particles.", pattern="References(*.{star})"),
        JobOption("autopick_refs", "OR autopicking references:", "", OptionKind.INPUT_NODE, "I/O",
                  "This STAR file (or MRC stack) should contain the 2D references that were used for the "
                  "auto-picking, e.g. AutoPick/jobNNN/references.star.",
                  node_type=node_types.IMAGES_2D, pattern="References(*.{star,mrcs})"),
        JobOption("angpix_ref", "Pixel size in references (A)", "-1", num, "I/O",
                  "Pixel size in Angstroms of the references; if negative, that of the particles. A value that "
                  "contradicts the references' MRC header is an error.", minimum=-1, maximum=5),
        JobOption("do_ctf", "Are References CTF corrected?", "Yes", yes_no, "I/O",
                  "Set to Yes if the references were created with CTF-correction: each particle's CTF is then "
                  "applied to its reference."),
        JobOption("do_ignore_first_ctfpeak", "Ignore CTFs until first peak?", "No", yes_no, "I/O",
                  "Set this to Yes, only if this option was also used to generate the references."),
        JobOption("particle_diameter", "Mask diameter (A)", "-1", num, "I/O",
                  "(vitreo) Diameter of the circle in which particle and reference are compared; if negative, it is "
                  "estimated from the references as RELION does.", minimum=-1, maximum=2000),
        JobOption("lowpass", "Lowpass filter (A)", "60", num, "I/O",
                  "(vitreo) Resolution to which particle and reference are compared; negative for none.",
                  minimum=-1, maximum=100),
        *running_options(has_mpi=False, has_threads=True),
    )


def _validate(params: Params) -> None:
    if not params.text("input_star"):
        raise ValueError("give the particles to sort (--input_star)")
    model, picked = params.text("model_refs"), params.text("autopick_refs")
    if not model and not picked:
        raise ValueError("provide either a model.star (--model_refs) or autopicking references (--autopick_refs)")
    if model and picked:
        raise ValueError("you cannot provide both a model.star and autopicking references")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [OutputNode(OUTPUT, PARTS_LABEL), OutputNode(LOGFILE, LOG_LABEL)]


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Score every particle against its reference and write particles_sort.star."""
    path = params.text("input_star")
    ctx.log.info(" Using %d CPU thread(s)", ctx.backend.threads)
    blocks = read_star(path)
    if is_pre31(blocks):
        blocks = convert_to_relion31(blocks, project_dir=".")
    particles, optics = blocks.get("particles"), blocks.get("optics")
    if not isinstance(particles, Table) or len(particles) == 0 or "rlnImageName" not in particles:
        raise InputError(path, "no particles (a data_particles table with rlnImageName)")
    columns = with_optics(particles, optics)
    pixel = _one_pixel_size(path, columns)
    ctx.progress.start("reading particles", 1)
    images = torch.from_numpy(read_images(columns["rlnImageName"]))
    ctx.progress.advance()
    declared = params.number("angpix_ref")
    refs = read_references_2d(params.text("model_refs") or params.text("autopick_refs"), declared if declared > 0 else pixel)
    diameter = params.number("particle_diameter")
    diameter = diameter if diameter > 0 else estimate_diameter(refs)
    references = match_box(refs, pixel, images.shape[-1])
    reference, psi = _alignments(columns, len(references))
    origins = np.stack([_column(columns, "rlnOriginXAngst"), _column(columns, "rlnOriginYAngst")], 1) / pixel
    settings = SortSettings(mask_radius=0.5 * diameter / pixel, lowpass=params.number("lowpass"),
                            use_ctf=params.flag("do_ctf"), ignore_first_peak=params.flag("do_ignore_first_ctfpeak"))
    ctf = _ctf(path, columns) if settings.use_ctf else None
    ctx.log.info(" Sorting %d particles against %d references (mask %.0f Å, %d without a known reference)",
                 len(images), len(references), diameter, int((reference < 0).sum()))
    ctx.progress.start("sorting particles", 1)
    result = sort_particles(images, references, pixel, reference, psi, origins, ctf, settings)
    ctx.progress.advance()
    particles["rlnParticleSelectZScore"] = result.zscore
    write_star(job_dir / OUTPUT, blocks, version=STAR_VERSION)
    by_micrograph = _per_micrograph(columns, result.zscore)
    plot_picking_log(job_dir / LOGFILE, by_micrograph, "rlnParticleSelectZScore", f"Particle sorting: {job_dir}")
    ctx.log.info(" Written %s; %d particles with Z > 3", job_dir / OUTPUT, int((result.zscore > 3).sum()))


def _one_pixel_size(path: str, columns: dict) -> float:
    if "rlnImagePixelSize" not in columns:
        raise InputError(path, "the particles have no rlnImagePixelSize (data_optics)")
    sizes = np.unique(np.asarray(columns["rlnImagePixelSize"], float))
    if len(sizes) != 1:
        raise InputError(path, f"particles have several pixel sizes {sizes.tolist()}; sort them separately")
    return float(sizes[0])


def _column(columns: dict, label: str, default: float = 0.0) -> np.ndarray:
    n = len(columns["rlnImageName"])
    return np.asarray(columns[label], float) if label in columns else np.full(n, default)


def _alignments(columns: dict, n_refs: int) -> tuple[np.ndarray, np.ndarray]:
    """0-based reference (−1 unknown) and psi in degrees (NaN unknown) of each particle."""
    reference = _column(columns, "rlnClassNumber", 0.0).astype(np.int64) - 1
    psi = _column(columns, "rlnAnglePsi", np.nan)
    unknown = (reference < 0) | (reference >= n_refs) | ~np.isfinite(psi) | (psi == UNSET)
    return np.where(unknown, -1, reference), np.where(unknown, np.nan, psi)


def _ctf(path: str, columns: dict) -> CtfParams:
    try:
        return CtfParams.from_columns(columns)
    except ValueError as err:
        raise InputError(path, f"{err}: set 'Are References CTF corrected?' to No to sort without CTFs") from None


def _per_micrograph(columns: dict, values: np.ndarray) -> dict[str, np.ndarray]:
    names = np.asarray(columns.get("rlnMicrographName", np.full(len(values), "all")), dtype=str)
    order = np.unique(names, return_index=True)
    return {str(name): values[names == name] for name in order[0][np.argsort(order[1])]}


def job_spec() -> JobSpec:
    """The Sort job type."""
    return JobSpec(
        directory="Sort",
        type_label="relion.sort",
        title="Particle sorting",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        validate=_validate,
        continue_rule=ContinueRule.RESTART,
        hidden_name=".gui_sort",
        summary="Score particles by how far they are from their aligned, CTF-corrected reference (Z-scores).",
    )


__all__ = ["job_spec", "run"]
