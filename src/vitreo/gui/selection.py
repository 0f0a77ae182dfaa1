""""Save selected" in the stack view: a Subset selection job (``Select/jobNNN/particles.star``).

As relion_display does for RELION's interactive Select job: selected particles, or the
particles of selected classes of a _model.star (from the _data.star beside it), at most
``max_nr_parts_per_class`` per class (chosen at random, seed 0), written as particles.star
with the input's optics. The job enters the pipeline as ``relion.select.interactive`` with
the input as its input node, and is marked Succeeded once the file is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vitreo.gui.paths import project_file
from vitreo.gui.stacks import Stack, open_stack_source
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs import node_types
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.spec import JobSpec, OutputNode
from vitreo.pipeline.job_state import mark_finished
from vitreo.pipeline.notes import append_execution
from vitreo.pipeline.project import Project
from vitreo.pipeline.submit import create_job

PARTICLES = "particles.star"
LABEL = "relion.select.interactive"


def _refuse_run(job_dir: Path, params: Params, ctx: object) -> None:
    raise ValueError("an interactive selection is made in the GUI's stack display (Save selected)")


def interactive_select_spec() -> JobSpec:
    """The Select job type as an interactive selection makes it (RELION's option names)."""
    return JobSpec(
        directory="Select", type_label=LABEL, title="Subset selection (interactive)",
        options=(
            JobOption("fn_model", "Select classes from model.star:", "", OptionKind.FILE, "I/O",
                      "A _model.star whose classes were selected in the display."),
            JobOption("fn_data", "OR select from particles.star:", "", OptionKind.INPUT_NODE, "I/O",
                      "A particles STAR file whose particles were selected in the display.",
                      node_type=node_types.PARTICLES),
            JobOption("max_nr_parts_per_class", "Max. particles per class:", "-1", OptionKind.NUMBER, "I/O",
                      "At most this many particles of each class (chosen at random); negative: all."),
        ),
        run=_refuse_run, output_nodes=lambda params: [OutputNode(PARTICLES, node_types.PARTICLES)],
        summary="particles selected in the display")


def selected_particles(root: Path, stack: Stack, rows: list[int], max_per_class: int) -> dict:
    """The STAR blocks of the selection (see the module docstring); the particles block is last."""
    from vitreo.ml.select import limit_per_class, particles_in_classes

    chosen = np.unique(np.asarray(rows, dtype=np.int64))
    if chosen.size == 0:
        raise ValueError("nothing is selected")
    if chosen.min() < 0 or chosen.max() >= len(stack.table):
        raise ValueError(f"selected rows must lie in 0..{len(stack.table) - 1}")
    if stack.kind == "classes":
        data_name = stack.path.replace("_model.star", "_data.star")
        blocks = read_star(project_file(root, data_name))
        particles = blocks.get("particles")
        if not isinstance(particles, Table):
            raise InputError(data_name, "no data_particles table (the _data.star of this classification)")
        particles = particles_in_classes(particles, chosen + 1)
    elif stack.kind == "particles":
        blocks = stack.blocks
        particles = stack.table.select(chosen)
    else:
        raise ValueError("only particles and classes from STAR files can be saved as a selection")
    if max_per_class > 0 and "rlnClassNumber" in particles:
        particles = limit_per_class(particles, max_per_class, np.random.default_rng(0))
    name = next(k for k, v in blocks.items() if isinstance(v, Table) and ("rlnImageName" in v))
    return {**{k: v for k, v in blocks.items() if k != name}, name: particles}


def save_selection(project: Project, source: str, rows: list[int], max_per_class: int = -1,
                   alias: str | None = None) -> tuple[str, int]:
    """Create a Select job holding the selection; returns (job name, number of particles)."""
    stack = open_stack_source(project.root, source)
    blocks = selected_particles(project.root, stack, rows, max_per_class)
    spec = interactive_select_spec()
    values = {"fn_model" if stack.kind == "classes" else "fn_data": source,
              "max_nr_parts_per_class": str(max_per_class)}
    run = create_job(project, spec, spec.params(values), alias=alias or None)
    job_dir = project.path(run.name)
    count = len(list(blocks.values())[-1])
    try:
        append_execution(job_dir, [f"vitreo gui: Save selected ({len(set(rows))} of {len(stack.table)} "
                                   f"{'classes' if stack.kind == 'classes' else 'particles'} in {source})"])
        write_star(job_dir / PARTICLES, blocks)
    except BaseException:
        mark_finished(project, run.name, failed=True)
        raise
    mark_finished(project, run.name)
    return run.name, count


__all__ = ["PARTICLES", "LABEL", "interactive_select_spec", "selected_particles", "save_selection"]
