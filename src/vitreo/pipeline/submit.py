"""Add jobs to the pipeline: new jobs (to run now or scheduled) and continuations.

Under the project lock a new job gets the next free number, its directory, job.star
(every parameter), its process with input and output nodes, and its alias; so two
shells creating jobs at once never share a number. Running it is ``launch``'s part.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from vitreo.jobs.cli_aliases import expand_aliases
from vitreo.jobs.node_types import accepts
from vitreo.jobs.options import Params
from vitreo.jobs.registry import spec_for_label
from vitreo.jobs.spec import ContinueRule, JobSpec
from vitreo.pipeline import aliases, nodes_dir
from vitreo.pipeline.job_copies import write_job_copies
from vitreo.pipeline.job_star import JOB_STAR, hidden_settings_path, read_job_star, write_job_star
from vitreo.pipeline.markers import clear_markers
from vitreo.pipeline.model import Node, Pipeline, Process, Status, job_name
from vitreo.pipeline.project import Project


@dataclass(frozen=True)
class JobRun:
    """A job ready to be started: its name, type and parameters."""

    name: str
    spec: JobSpec
    params: Params
    is_continue: bool


def params_from_values(spec: JobSpec, values: Mapping[str, str]) -> tuple[Params, list[str]]:
    """Parameters from job.star values: (defaults overridden by known values, unknown names)."""
    known = {option.name for option in spec.options}
    ignored = sorted(name for name in values if name not in known)
    return spec.params({name: value for name, value in values.items() if name in known}), ignored


def spec_of(process: Process) -> JobSpec:
    """The job type of a process; ValueError when vitreo cannot run it."""
    spec = spec_for_label(process.type_label)
    if spec is None:
        raise ValueError(f"{process.name} is a {process.type_label} job, which vitreo cannot run")
    return spec


def create_job(project: Project, spec: JobSpec, params: Params, alias: str | None = None,
               schedule: bool = False) -> JobRun:
    """Add a new job (Running, or Scheduled when ``schedule``) and make its directory."""
    spec.validate(params)
    is_continue = schedule and spec.continue_rule is ContinueRule.NEW_INPUTS_ONLY
    status = Status.SCHEDULED if schedule else Status.RUNNING
    label = spec.label(params)
    with project.edit(f"{'schedule' if schedule else 'runJob'}: new {spec.directory} job") as pipeline:
        name = _free_name(project, pipeline, spec.directory)
        process = pipeline.add_process(Process(name, None, label, status))
        _add_nodes(project, pipeline, spec, params, name)
        if alias:
            aliases.alias_name(process, alias)  # check it before anything is written
        job_dir = project.path(name)
        job_dir.mkdir(parents=True)
        try:
            write_job_star(job_dir / JOB_STAR, label, params, is_continue)
            if alias:
                aliases.set_alias(project.root, pipeline, process, alias)
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        hidden = hidden_settings_path(project.root, spec.hidden_name)
        if hidden is not None:
            write_job_star(hidden, label, params, False)
        nodes_dir.touch_outputs(project.root, pipeline, name)
        write_job_copies(project.root, pipeline, name)
    return JobRun(name, spec, params, is_continue)


def continue_job(project: Project, reference: str, changes: Mapping[str, str]) -> JobRun:
    """Mark a finished job as running again as a continuation, with allowed parameter changes."""
    with project.edit(f"continue {reference}") as pipeline:
        process = project.resolve(pipeline, reference)
        if process.status in (Status.RUNNING, Status.SCHEDULED):
            raise ValueError(f"{process.name} is {process.status.value.lower()}; only finished jobs can be continued")
        spec = spec_of(process)
        job_dir = project.path(process.name)
        params, _ = params_from_values(spec, read_job_star(job_dir / JOB_STAR).values)
        for name, value in expand_aliases(spec, changes).items():
            option = spec.option(name)
            new = option.normalise(value)
            if new != params[name] and not (option.on_continue or name == spec.continue_option):
                raise ValueError(f"--{name} cannot be changed when continuing {process.name}")
            params = params.updated({name: new})
        if spec.continue_rule is ContinueRule.FROM_OPTIMISER and spec.continue_option:
            if not params.text(spec.continue_option):
                raise ValueError(f"continuing {process.name} needs --{spec.continue_option} "
                                 "(the _optimiser.star to continue from)")
        spec.validate(params)
        write_job_star(job_dir / JOB_STAR, process.type_label, params, is_continue=True)
        clear_markers(job_dir)
        process.status = Status.RUNNING
        write_job_copies(project.root, pipeline, process.name)
    return JobRun(process.name, spec, params, True)


def start_scheduled(project: Project, name: str) -> JobRun:
    """Mark a scheduled job as running (autorun) and return what to start."""
    with project.edit(f"autorun: start {name}") as pipeline:
        process = pipeline.process(name)
        if process is None:
            raise ValueError(f"no job {name} in the pipeline")
        spec = spec_of(process)
        job_dir = project.path(process.name)
        job = read_job_star(job_dir / JOB_STAR)
        params, _ = params_from_values(spec, job.values)
        clear_markers(job_dir)
        process.status = Status.RUNNING
        write_job_copies(project.root, pipeline, process.name)
    return JobRun(process.name, spec, params, job.is_continue)


def _free_name(project: Project, pipeline: Pipeline, directory: str) -> str:
    """The next job name whose directory is not taken (a crashed creation may have left one)."""
    while True:
        name = job_name(directory, pipeline.job_counter)
        pipeline.job_counter += 1
        if pipeline.process(name) is None and not os.path.lexists(project.path(name)) and \
                not os.path.lexists(project.path(f"Trash/{name}")):
            return name


def _add_nodes(project: Project, pipeline: Pipeline, spec: JobSpec, params: Params, name: str) -> None:
    for wanted in spec.input_nodes(params):
        path = pipeline.canonical_node_name(wanted.path)
        existing = pipeline.node(path)
        if existing is None and not project.path(path).exists():
            raise ValueError(f"input {wanted.path} is neither an output of a job in this project nor a file")
        if existing is not None and not accepts(wanted.type_label, existing.type_label):
            raise ValueError(f"input {wanted.path} is a {existing.type_label} node; "
                             f"this input needs {wanted.type_label}")
        pipeline.add_input(Node(path, wanted.type_label), name)
    for output in spec.output_nodes(params):
        pipeline.add_output(name, Node(name + output.file, output.type_label))


__all__ = ["JobRun", "params_from_values", "spec_of", "create_job", "continue_job", "start_scheduled"]
