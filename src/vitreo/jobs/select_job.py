"""The Select job type (RELION's "Subset selection"): classes, particles and micrographs.

From a classification (``fn_model``: an ``_optimiser.star`` or ``_model.star`` of Class2D,
Class3D or Refine3D, its ``_data.star`` beside it) the job keeps classes chosen by number
(``select_classes``, e.g. ``1,4,7-9``), by a rule on distribution and estimated resolution, or by
the automatic class ranker (``do_class_ranker``, :func:`vitreo.ml.select.rank_classes`: junk
classes are rejected from their resolution, population and shape); it writes their particles
(``particles.star``, at most ``max_nr_parts_per_class`` per class, optionally regrouped into about
``nr_groups`` groups), their 2D averages (``class_averages.star`` + ``.mrcs``, optionally re-centred
for auto-picking) and, with ``fn_mic``, the micrographs that still hold particles
(``micrographs.star``). Without a model, particles (``fn_data``) or micrographs (``fn_mic``) are
selected on a metadata value (``do_select_values``), regrouped, or split into subsets (``do_split``).
RELION's interactive selection in its display is replaced by the class list and the rule.
Not available: duplicate removal, discarding on image statistics, filament selection.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitreo.io.errors import InputError
from vitreo.io.image_refs import resolve
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.options import JobOption, OptionKind, Params, unavailable_option
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.jobs.star_tables import STAR_VERSION
from vitreo.ml.select import (
    ClassSummary,
    class_averages_table,
    classes_by_rule,
    limit_per_class,
    micrographs_with_particles,
    particles_in_classes,
    rank_classes,
    read_classes,
    recentred_averages,
    regroup,
)

PARTICLES, MICROGRAPHS = "particles.star", "micrographs.star"
CLASS_AVERAGES, CLASS_STACK = "class_averages.star", "class_averages.mrcs"
CLASS_AVERAGES_LABEL = node_types.IMAGES_2D + ".classaverages"
CLASSES, SUBSETS, DUPLICATES, FILAMENTS = "Class options", "Subsets", "Duplicates", "Filaments"
SEED = 0


def _options() -> tuple[JobOption, ...]:
    num, yes_no, text, node = OptionKind.NUMBER, OptionKind.BOOLEAN, OptionKind.TEXT, OptionKind.INPUT_NODE
    return (
        JobOption("fn_model", "Select classes from job:", "", node, "I/O",
                  "An _optimiser.star (or _model.star) of a 2D/3D classification or refinement; its _data.star "
                  "gives the particles.", node_type=node_types.OPTIMISER, pattern="STAR files (*_optimiser.star)"),
        JobOption("fn_mic", "OR select from micrographs.star:", "", node, "I/O",
                  "A micrographs STAR file. With a model: the micrographs that still hold selected particles are "
                  "kept; alone: micrographs are selected on a value or split.",
                  node_type=node_types.MICROGRAPHS, pattern="STAR files (*.star)"),
        JobOption("fn_data", "OR select from particles.star:", "", node, "I/O",
                  "A particles STAR file (e.g. a _data.star of Class2D, Class3D or Refine3D) to select on a value, "
                  "regroup or split.", node_type=node_types.PARTICLES, pattern="STAR files (*.star)"),
        JobOption("select_classes", "Classes to keep:", "", text, CLASSES,
                  "(vitreo) Class numbers to keep, e.g. 1,4,7-9 (RELION picks them in its display)."),
        JobOption("min_class_distribution", "Minimum class distribution:", "0", num, CLASSES,
                  "(vitreo) Rule: keep classes holding at least this fraction of the particles.", minimum=0, maximum=1),
        JobOption("max_class_resolution", "Maximum class resolution (A):", "-1", num, CLASSES,
                  "(vitreo) Rule: keep classes whose estimated resolution is this (Å) or better; negative: any.",
                  minimum=-1, maximum=100),
        JobOption("do_class_ranker", "Automatically select 2D classes?", "No", yes_no, CLASSES,
                  "If Yes, 2D classes are selected automatically from their estimated resolution, particle count "
                  "and the shape of their average (junk averages are blurry, streaky or off-centre)."),
        JobOption("rank_threshold", "Minimum threshold for auto-selection:", "0.5", num, CLASSES,
                  "RELION's class-ranker score threshold; kept for compatibility (vitreo's ranker decides by its "
                  "criteria).", minimum=0, maximum=1),
        JobOption("select_nr_parts", "Select at least this many particles:", "-1", num, CLASSES,
                  "With auto-selection: add the next best classes (by resolution) until this many particles are "
                  "selected; negative: not used.", minimum=-1, maximum=10000),
        JobOption("select_nr_classes", "OR: select at least this many classes:", "-1", num, CLASSES,
                  "With auto-selection: add the next best classes until this many are selected; negative: not used.",
                  minimum=-1, maximum=200),
        JobOption("python_exe", "Python executable: ", "python", text, CLASSES, "Kept for RELION compatibility."),
        JobOption("max_nr_parts_per_class", "Max. particles per class:", "-1", num, CLASSES,
                  "(vitreo) Keep at most this many particles of each class, chosen at random; negative: all.",
                  minimum=-1, maximum=100000),
        JobOption("do_recenter", "Re-center the class averages?", "No", yes_no, CLASSES,
                  "If Yes, the selected class averages are shifted to put their centre of mass at the box centre "
                  "(useful for auto-picking templates)."),
        JobOption("do_regroup", "Regroup the particles?", "No", yes_no, CLASSES,
                  "If Yes, micrographs with few particles are merged into about nr_groups groups of similar "
                  "intensity scale (rlnGroupName/rlnGroupNumber) for the noise model."),
        JobOption("nr_groups", "Approximate nr of groups: ", "1", num, CLASSES,
                  "The number of groups to regroup into.", minimum=1, maximum=200),
        JobOption("do_select_values", "Select based on metadata values?", "No", yes_no, SUBSETS,
                  "If Yes, keep the rows whose select_label lies within [select_minval, select_maxval]."),
        JobOption("select_label", "Metadata label for subset selection:", "rlnCtfMaxResolution", text, SUBSETS,
                  "The STAR label to select on."),
        JobOption("select_minval", "Minimum metadata value:", "-9999.", num, SUBSETS, "Lowest value kept."),
        JobOption("select_maxval", "Maximum metadata value:", "9999.", num, SUBSETS, "Highest value kept."),
        unavailable_option("do_discard", "OR: select on image statistics?", "No", yes_no, SUBSETS),
        unavailable_option("discard_label", "Metadata label for images:", "rlnImageName", text, SUBSETS),
        unavailable_option("discard_sigma", "Sigma-value for discarding images:", "4", num, SUBSETS),
        JobOption("do_split", "OR: split into subsets?", "No", yes_no, SUBSETS,
                  "If Yes, the particles (or micrographs) are split into subsets: particles_split1.star, ..."),
        JobOption("do_random", "Randomise order before making subsets?", "No", yes_no, SUBSETS,
                  "If Yes, the rows are shuffled before splitting."),
        JobOption("split_size", "Subset size: ", "100", num, SUBSETS,
                  "Rows per subset (used when nr_split is negative).", minimum=1, maximum=10000),
        JobOption("nr_split", "OR: number of subsets: ", "-1", num, SUBSETS,
                  "Split into this many subsets of equal size; negative: subsets of split_size.", minimum=-1, maximum=50),
        unavailable_option("do_remove_duplicates", "OR: remove duplicates?", "No", yes_no, DUPLICATES),
        unavailable_option("duplicate_threshold", "Minimum inter-particle distance (A):", "30", num, DUPLICATES),
        unavailable_option("image_angpix", "Pixel size before extracting (A):", "-1", num, DUPLICATES),
        unavailable_option("do_filaments", "Select filaments?", "No", yes_no, FILAMENTS),
        unavailable_option("dendrogram_threshold", "Dendrogram threshold:", "0.85", num, FILAMENTS),
        unavailable_option("dendrogram_minclass", "Minimum class size:", "-1000", num, FILAMENTS),
        *running_options(has_mpi=False, has_threads=False),
    )


def _validate(params: Params) -> None:
    model, data, mics = (params.text(name) for name in ("fn_model", "fn_data", "fn_mic"))
    if not (model or data or mics):
        raise ValueError("give a classification (--fn_model), particles (--fn_data) or micrographs (--fn_mic)")
    if model and data:
        raise ValueError("give either a classification (--fn_model) or particles (--fn_data), not both")
    for name in ("do_discard", "do_remove_duplicates", "do_filaments"):
        if params.flag(name):
            raise ValueError(f"{name} is not available in vitreo")
    if model and not (params.text("select_classes") or params.flag("do_class_ranker") or _has_rule(params)):
        raise ValueError("choose the classes: --select_classes, a rule (--min_class_distribution, "
                         "--max_class_resolution) or --do_class_ranker Yes")
    if params.text("select_classes"):
        parse_class_list(params.text("select_classes"))


def _has_rule(params: Params) -> bool:
    return params.number("min_class_distribution") > 0 or params.number("max_class_resolution") > 0


def _label(params: Params) -> str:
    if params.text("fn_model"):
        return "relion.select.class2dauto" if params.flag("do_class_ranker") else "relion.select.interactive"
    if params.flag("do_split"):
        return "relion.select.split"
    return "relion.select.onvalue"


def _output_nodes(params: Params) -> list[OutputNode]:
    nodes = []
    if params.text("fn_model") or params.text("fn_data"):
        if not params.flag("do_split"):
            nodes.append(OutputNode(PARTICLES, node_types.PARTICLES))
    elif not params.flag("do_split"):
        nodes.append(OutputNode(MICROGRAPHS, node_types.MICROGRAPHS))
    if params.text("fn_model") and params.text("fn_mic"):
        nodes.append(OutputNode(MICROGRAPHS, node_types.MICROGRAPHS))
    return nodes


def parse_class_list(text: str) -> np.ndarray:
    """Class numbers from ``"1,4,7-9"`` (commas or spaces; ranges inclusive); ValueError if malformed."""
    numbers: list[int] = []
    for part in re.split(r"[,\s]+", text.strip()):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match or int(match.group(1)) < 1:
            raise ValueError(f"cannot read class list {text!r}: use numbers from 1 and ranges, e.g. 1,4,7-9")
        first = int(match.group(1))
        numbers += range(first, int(match.group(2) or first) + 1)
    return np.unique(np.asarray(numbers, dtype=np.int64))


def class_list_text(numbers: np.ndarray | list[int]) -> str:
    """The shortest class list :func:`parse_class_list` reads back: ``[1, 4, 7, 8, 9]`` -> ``"1,4,7-9"``."""
    values = np.unique(np.asarray(numbers, dtype=np.int64))
    if values.size == 0 or values[0] < 1:
        raise ValueError("class numbers start at 1")
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    runs = np.split(values, breaks)
    return ",".join(f"{run[0]}" if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


@dataclass(frozen=True)
class Classification:
    """The files of a classification named by its _optimiser.star or _model.star, and its particle
    diameter (Å; 0 when unknown, i.e. given a _model.star)."""

    model: Path
    data: Path
    particle_diameter: float = 0.0


def classification_files(path: str) -> Classification:
    """The _model.star and _data.star of a classification named by its _optimiser.star or _model.star."""
    source = Path(path)
    if not source.is_file():
        raise InputError(source, "no such file")
    if source.name.endswith("_optimiser.star"):
        general = read_star(source).get("optimiser_general")
        if not isinstance(general, dict) or "rlnModelStarFile" not in general:
            raise InputError(source, "not an optimiser file (needs data_optimiser_general with rlnModelStarFile)")
        return Classification(resolve(general["rlnModelStarFile"]), resolve(general["rlnExperimentalDataStarFile"]),
                              float(general.get("rlnParticleDiameter", 0.0)))
    if source.name.endswith("_model.star"):
        return Classification(source, source.with_name(source.name[: -len("_model.star")] + "_data.star"))
    raise InputError(source, "select classes from an _optimiser.star or _model.star")


def choose_classes(params: Params, summary: ClassSummary, n_particles: int, radius_px: float,
                   log: Callable[[str], None]) -> np.ndarray:
    """The class numbers kept: the list, the ranker's choice (``radius_px``: the particle radius in
    pixels, for its shape criteria), or the rule, in that order of precedence."""
    if params.text("select_classes"):
        chosen = parse_class_list(params.text("select_classes"))
        beyond = chosen[chosen > len(summary.numbers)]
        if len(beyond):
            raise InputError(None, f"class {int(beyond[0])} does not exist: the model has {len(summary.numbers)} classes")
        return chosen
    if params.flag("do_class_ranker"):
        scores = rank_classes(summary, n_particles, radius_px)
        order = np.lexsort((-scores.resolution_shell, ~scores.selected))  # kept first, then by resolution
        count = int(scores.selected.sum())
        wanted_classes, wanted_parts = params.integer("select_nr_classes"), params.integer("select_nr_parts")
        if wanted_classes > 0:
            count = max(count, min(wanted_classes, len(order)))
        if wanted_parts > 0:
            enough = int(np.searchsorted(np.cumsum(scores.particles[order]), wanted_parts)) + 1
            count = max(count, min(enough, len(order)))
        chosen = np.sort(summary.numbers[order[:count]])
        log(f"class ranker: kept {len(chosen)} of {len(summary.numbers)} classes ({int(scores.selected.sum())} by its criteria)")
        return chosen
    max_resolution = params.number("max_class_resolution")
    return classes_by_rule(summary, params.number("min_class_distribution"),
                           max_resolution if max_resolution > 0 else math.inf)


def _particle_radius(classification: Classification, summary: ClassSummary) -> float:
    """Particle radius (pixels): half the classification's mask diameter, else 40% of the box."""
    if classification.particle_diameter > 0:
        return classification.particle_diameter / (2 * summary.pixel_size)
    box = summary.averages.shape[-1] if summary.averages is not None else 0
    return 0.4 * box


def run(job_dir: Path, params: Params, ctx: JobContext) -> list[OutputNode]:
    """Select and write the subsets; returns the output nodes written."""
    if params.text("fn_model"):
        return _select_classes(job_dir, params, ctx)
    if params.text("fn_data"):
        return _select_rows(job_dir, params, ctx, params.text("fn_data"), "particles", node_types.PARTICLES)
    return _select_rows(job_dir, params, ctx, params.text("fn_mic"), "micrographs", node_types.MICROGRAPHS)


def _select_classes(job_dir: Path, params: Params, ctx: JobContext) -> list[OutputNode]:
    classification = classification_files(params.text("fn_model"))
    summary = read_classes(classification.model)
    blocks = read_star(classification.data)
    data = _table(blocks, "particles", classification.data)
    chosen = choose_classes(params, summary, len(data), _particle_radius(classification, summary),
                            lambda message: ctx.log.info(" %s", message))
    particles = particles_in_classes(data, chosen)
    if params.integer("max_nr_parts_per_class") > 0:
        particles = limit_per_class(particles, params.integer("max_nr_parts_per_class"), np.random.default_rng(SEED))
    if params.flag("do_regroup"):
        particles = regroup(particles, params.integer("nr_groups"))
    write_star(job_dir / PARTICLES, {**blocks, "particles": particles}, version=STAR_VERSION)
    ctx.log.info(" Kept classes %s: %d of %d particles -> %s", chosen.tolist(), len(particles), len(data),
                 job_dir / PARTICLES)
    nodes = [OutputNode(PARTICLES, node_types.PARTICLES)]
    if summary.averages is not None and len(chosen):
        stack = job_dir / CLASS_STACK
        averages = recentred_averages(summary, chosen) if params.flag("do_recenter") else summary.averages[chosen - 1]
        write_mrc(stack, averages.astype(np.float32), summary.pixel_size, is_stack=True)
        write_star(job_dir / CLASS_AVERAGES, {"": class_averages_table(summary, chosen, str(stack))}, version=STAR_VERSION)
        nodes.append(OutputNode(CLASS_AVERAGES, CLASS_AVERAGES_LABEL))
    if params.text("fn_mic"):
        mic_blocks = read_star(params.text("fn_mic"))
        micrographs = micrographs_with_particles(_table(mic_blocks, "micrographs", params.text("fn_mic")), particles)
        write_star(job_dir / MICROGRAPHS, {**mic_blocks, "micrographs": micrographs}, version=STAR_VERSION)
        ctx.log.info(" Kept %d micrographs with selected particles -> %s", len(micrographs), job_dir / MICROGRAPHS)
        nodes.append(OutputNode(MICROGRAPHS, node_types.MICROGRAPHS))
    return nodes


def _select_rows(job_dir: Path, params: Params, ctx: JobContext, path: str, block: str, label: str) -> list[OutputNode]:
    """Particles or micrographs: select on a value, regroup (particles), split."""
    blocks = read_star(path)
    table = _table(blocks, block, path)
    if params.flag("do_select_values"):
        name = params.text("select_label")
        if name not in table:
            raise InputError(path, f"no column {name} to select on")
        values = np.asarray(table[name], np.float64)
        table = table.select((values >= params.number("select_minval")) & (values <= params.number("select_maxval")))
        ctx.log.info(" %d rows with %s in [%g, %g]", len(table), name, params.number("select_minval"),
                     params.number("select_maxval"))
    if params.flag("do_regroup") and block == "particles":
        table = regroup(table, params.integer("nr_groups"))
    if not params.flag("do_split"):
        out = PARTICLES if block == "particles" else MICROGRAPHS
        write_star(job_dir / out, {**blocks, block: table}, version=STAR_VERSION)
        return [OutputNode(out, label)]
    nodes = []
    for number, rows in enumerate(split_rows(len(table), params), start=1):
        out = f"{block}_split{number}.star"
        write_star(job_dir / out, {**blocks, block: table.select(rows)}, version=STAR_VERSION)
        nodes.append(OutputNode(out, label))
    ctx.log.info(" Split %d rows into %d subsets", len(table), len(nodes))
    return nodes


def split_rows(n: int, params: Params) -> list[np.ndarray]:
    """Row indices of each subset: nr_split equal parts, else parts of split_size (the last may be smaller)."""
    order = np.random.default_rng(SEED).permutation(n) if params.flag("do_random") else np.arange(n)
    parts = params.integer("nr_split")
    if parts > 0:
        return [np.sort(part) for part in np.array_split(order, parts)]
    size = params.integer("split_size")
    return [np.sort(order[start : start + size]) for start in range(0, n, size)]


def _table(blocks: dict, name: str, path: str | Path) -> Table:
    table = blocks.get(name)
    if not isinstance(table, Table) or len(table) == 0:
        raise InputError(path, f"no {name} (needs a data_{name} loop with rows)")
    return table


def job_spec() -> JobSpec:
    """The Select job type."""
    return JobSpec(
        directory="Select",
        type_label="relion.select",
        title="Subset selection",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        label_for=_label,
        validate=_validate,
        continue_rule=ContinueRule.RESTART,
        hidden_name=".gui_select",
        summary="Keep classes (by number, rule or automatically), their particles and micrographs; split or regroup.",
    )


__all__ = ["job_spec", "run", "parse_class_list", "class_list_text", "Classification", "classification_files", "choose_classes",
           "split_rows"]
