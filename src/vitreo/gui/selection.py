""""Save selected" in the stack view: a Subset selection job (``Select/jobNNN/``).

As relion_display does for RELION's interactive Select job:

- selected classes of a classification (a _model.star or the _optimiser.star that names it)
  become a Select job run with ``select_classes`` (and ``max_nr_parts_per_class``), so the
  job writes what it writes from the command line: particles.star with the particles of those
  classes, and for 2D classes class_averages.star with their averages; its job.star records
  the classes, so it can be run again;
- selected particles of a particles STAR file are written here as particles.star with the
  input's optics (at most ``max_per_class`` per class, chosen at random, seed 0), in a job
  labelled ``relion.select.interactive`` with the input as its input node.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vitreo.gui.job_logs import read_log
from vitreo.gui.launching import run_and_wait, run_command
from vitreo.gui.paths import project_file
from vitreo.gui.stacks import Stack, open_stack_source
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs import node_types, select_job
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.spec import JobSpec, OutputNode
from vitreo.ml.select import limit_per_class
from vitreo.pipeline.job_state import mark_finished
from vitreo.pipeline.model import Status
from vitreo.pipeline.notes import append_execution
from vitreo.pipeline.project import Project
from vitreo.pipeline.submit import create_job

PARTICLES = "particles.star"
LABEL = "relion.select.interactive"


def _refuse_run(job_dir: Path, params: Params, ctx: object) -> None:
    raise ValueError("an interactive selection is made in the GUI's stack display (Save selected)")


def interactive_select_spec() -> JobSpec:
    """The Select job type as an interactive selection of particles makes it (RELION's option names)."""
    return JobSpec(
        directory="Select", type_label=LABEL, title="Subset selection (interactive)",
        options=(
            JobOption("fn_data", "OR select from particles.star:", "", OptionKind.INPUT_NODE, "I/O",
                      "A particles STAR file whose particles were selected in the display.",
                      node_type=node_types.PARTICLES),
            JobOption("max_nr_parts_per_class", "Max. particles per class:", "-1", OptionKind.NUMBER, "I/O",
                      "At most this many particles of each class (chosen at random); negative: all."),
        ),
        run=_refuse_run, output_nodes=lambda params: [OutputNode(PARTICLES, node_types.PARTICLES)],
        summary="particles selected in the display")


def chosen_rows(rows: list[int], count: int) -> np.ndarray:
    """The distinct selected rows, sorted; ValueError when none, or one outside 0..count-1."""
    chosen = np.unique(np.asarray(rows, dtype=np.int64))
    if chosen.size == 0:
        raise ValueError("nothing is selected")
    if chosen.min() < 0 or chosen.max() >= count:
        raise ValueError(f"selected rows must lie in 0..{count - 1}")
    return chosen


def selected_particles(stack: Stack, chosen: np.ndarray, max_per_class: int) -> dict:
    """The STAR blocks of a particle selection; the particles block keeps its name and place."""
    particles = stack.table.select(chosen)
    if max_per_class > 0 and "rlnClassNumber" in particles:
        particles = limit_per_class(particles, max_per_class, np.random.default_rng(0))
    name = next(k for k, v in stack.blocks.items() if v is stack.table)
    return {**stack.blocks, name: particles}


def classification_node(root: Path, model: str) -> str:
    """The _optimiser.star beside a _model.star (the classification's pipeline node), else the model."""
    if model.endswith("_model.star"):
        optimiser = model[: -len("_model.star")] + "_optimiser.star"
        if project_file(root, optimiser).is_file():
            return optimiser
    return model


def save_selection(project: Project, source: str, rows: list[int], max_per_class: int = -1,
                   alias: str | None = None) -> tuple[str, int]:
    """Create a Select job holding the selection; returns (job name, number of particles)."""
    stack = open_stack_source(project.root, source)
    chosen = chosen_rows(rows, len(stack.table))
    if stack.kind == "classes":
        return _save_classes(project, stack, chosen + 1, max_per_class, alias)
    if stack.kind == "particles":
        return _save_particles(project, stack, chosen, max_per_class, alias)
    raise ValueError("only particles and classes from STAR files can be saved as a selection")


def _save_classes(project: Project, stack: Stack, classes: np.ndarray, max_per_class: int,
                  alias: str | None) -> tuple[str, int]:
    """Run a Select job on the classification with these class numbers and wait for it."""
    spec = select_job.job_spec()
    params = spec.params({"fn_model": classification_node(project.root, stack.path),
                          "select_classes": select_job.class_list_text(classes),
                          "max_nr_parts_per_class": str(max_per_class)})
    run = create_job(project, spec, params, alias=alias or None)
    status = run_and_wait(project, run, run_command(spec, params, alias))
    job_dir = project.path(run.name)
    if status is not Status.SUCCEEDED:
        errors = [line for line in read_log(job_dir, "err", -4096)["text"].splitlines() if line.strip()]
        raise ValueError(f"{run.name} {status.value.lower()}: {errors[-1] if errors else 'see its run.err'}")
    particles = read_star(job_dir / PARTICLES).get("particles")
    return run.name, len(particles) if isinstance(particles, Table) else 0


def _save_particles(project: Project, stack: Stack, chosen: np.ndarray, max_per_class: int,
                    alias: str | None) -> tuple[str, int]:
    """Write the selected particles into a new, finished interactive Select job."""
    blocks = selected_particles(stack, chosen, max_per_class)
    spec = interactive_select_spec()
    params = spec.params({"fn_data": stack.path, "max_nr_parts_per_class": str(max_per_class)})
    run = create_job(project, spec, params, alias=alias or None)
    job_dir = project.path(run.name)
    try:
        append_execution(job_dir, [f"vitreo gui: Save selected ({len(chosen)} of {len(stack.table)} particles "
                                   f"in {stack.path})"])
        write_star(job_dir / PARTICLES, blocks)
    except BaseException:
        mark_finished(project, run.name, failed=True)
        raise
    mark_finished(project, run.name)
    count = len(next(v for v in blocks.values() if isinstance(v, Table) and "rlnImageName" in v))
    return run.name, count


__all__ = ["PARTICLES", "LABEL", "interactive_select_spec", "chosen_rows", "selected_particles",
           "classification_node", "save_selection"]
