"""The JSON API over the pipeline: job types, jobs, their logs and actions, autorun, trash.

Every action calls the pipeline function the CLI calls (``vitreo run``, ``vitreo job ...``).
Jobs are named in request bodies and query parameters (``Import/job001/``, an alias, a number).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from vitreo.gui import launching
from vitreo.gui.job_logs import read_log
from vitreo.gui.job_specs import spec_json, type_summary
from vitreo.gui.state import GuiState, gui_state
from vitreo.jobs.progress import read_progress
from vitreo.jobs.registry import all_specs, find_spec, spec_for_label
from vitreo.pipeline.clean import clean_job
from vitreo.pipeline.flowchart import flowchart_svg
from vitreo.pipeline.job_star import JOB_STAR, read_job_star
from vitreo.pipeline.job_state import abort_job, mark_finished, refresh_statuses, set_job_alias
from vitreo.pipeline.model import Pipeline, Process
from vitreo.pipeline.notes import append_text, read_note
from vitreo.pipeline.project import PIPELINE_FILE, TRASH, Project
from vitreo.pipeline.trash import DELETED_PIPELINE, delete_job, empty_trash, undelete_job

router = APIRouter(prefix="/api")
State = Depends(gui_state)
LISTS = {"Running": "running", "Scheduled": "scheduled", "Succeeded": "finished", "Failed": "failed",
         "Aborted": "failed"}


class NewJob(BaseModel):
    type: str
    values: dict[str, str] = Field(default_factory=dict)
    alias: str | None = None
    schedule: bool = False


class JobRef(BaseModel):
    job: str


class ContinueJob(JobRef):
    values: dict[str, str] = Field(default_factory=dict)


class NoteText(JobRef):
    text: str


class AliasText(JobRef):
    alias: str | None = None


class MarkJob(JobRef):
    failed: bool = False


class CleanJob(JobRef):
    harsh: bool = False


class Autorun(BaseModel):
    jobs: list[str] = Field(default_factory=list)
    repeat: int = 1
    wait: float = 0.0


@router.get("/types")
def list_types() -> list[dict[str, str]]:
    """Every job type, for the job-type browser."""
    return [type_summary(spec) for spec in all_specs()]


@router.get("/types/{name}")
def get_type(name: str, state: GuiState = State) -> dict[str, Any]:
    """A job type's parameter panel, with the nodes each input field may take."""
    pipeline = state.project().read() if (state.root / PIPELINE_FILE).is_file() else None
    return spec_json(find_spec(name), pipeline)


@router.get("/jobs")
def list_jobs(state: GuiState = State) -> dict[str, Any]:
    """The jobs with status, alias, inputs, outputs and progress, and the job lists they belong in."""
    project = state.project()
    try:
        refresh_statuses(project)
    except PermissionError:  # a read-only project: show what the pipeline says
        pass
    pipeline = project.read()
    jobs = [_job_json(project, pipeline, process) for process in pipeline.processes]
    lists: dict[str, list[str]] = {name: [] for name in ("running", "scheduled", "finished", "failed")}
    for job in jobs:
        lists[LISTS[job["status"]]].append(job["name"])
    return {"job_counter": pipeline.job_counter, "jobs": jobs, "lists": lists,
            "autorun": launching.autorun_running(project)}


@router.get("/job")
def get_job(job: str, state: GuiState = State) -> dict[str, Any]:
    """One job: its summary, parameter values (job.star), note and whether it can be continued."""
    project = state.project()
    pipeline = project.read()
    process = project.resolve(pipeline, job)
    job_dir = project.path(process.name)
    star = read_job_star(job_dir / JOB_STAR) if (job_dir / JOB_STAR).exists() else None
    spec = spec_for_label(process.type_label)
    return {**_job_json(project, pipeline, process), "values": star.values if star else {},
            "is_continue": bool(star and star.is_continue), "note": read_note(job_dir),
            "spec": spec.type_label if spec else None}


@router.get("/job/log")
def get_log(job: str, stream: str = "out", offset: int = 0, state: GuiState = State) -> dict[str, Any]:
    """run.out or run.err from byte ``offset`` (negative: the tail), for live updates."""
    project = state.project()
    process = project.resolve(project.read(), job)
    return read_log(project.path(process.name), stream, offset)


@router.get("/job/flowchart")
def get_flowchart(job: str, state: GuiState = State) -> Response:
    """The job's history as an SVG image."""
    return Response(flowchart_svg(state.project(), job), media_type="image/svg+xml")


@router.post("/jobs")
def new_job(request: NewJob, state: GuiState = State) -> dict[str, str]:
    """Run now (or schedule) a new job of a type with parameter values and an alias."""
    run = launching.run_new(state.project(), find_spec(request.type), request.values, request.alias,
                            request.schedule)
    return {"job": run.name, "status": "Scheduled" if request.schedule else "Running"}


@router.post("/job/continue")
def continue_now(request: ContinueJob, state: GuiState = State) -> dict[str, str]:
    """Continue a finished job (changes allowed on continue only)."""
    return {"job": launching.continue_now(state.project(), request.job, request.values).name, "status": "Running"}


@router.post("/job/note")
def add_note(request: NoteText, state: GuiState = State) -> dict[str, str]:
    """Append text to the job's note.txt."""
    project = state.project()
    job_dir = project.path(project.resolve(project.read(), request.job).name)
    append_text(job_dir, request.text)
    return {"note": read_note(job_dir)}


@router.post("/job/alias")
def set_alias(request: AliasText, state: GuiState = State) -> dict[str, str | None]:
    """Set, change or (with an empty alias) remove a job's alias."""
    return {"alias": set_job_alias(state.project(), request.job, request.alias)}


@router.post("/job/mark_finished")
def mark(request: MarkJob, state: GuiState = State) -> dict[str, str]:
    """Mark a job as Succeeded (or Failed)."""
    return {"job": mark_finished(state.project(), request.job, request.failed)}


@router.post("/job/abort")
def abort(request: JobRef, state: GuiState = State) -> dict[str, str]:
    """Ask a running job to stop."""
    return {"job": abort_job(state.project(), request.job)}


@router.post("/job/delete")
def delete(request: JobRef, state: GuiState = State) -> dict[str, list[str]]:
    """Move a job and every job that depends on it to Trash/."""
    return {"deleted": delete_job(state.project(), request.job)}


@router.post("/job/undelete")
def undelete(request: JobRef, state: GuiState = State) -> dict[str, list[str]]:
    """Bring a deleted job (and the jobs deleted with it) back."""
    return {"restored": undelete_job(state.project(), request.job)}


@router.post("/job/clean")
def clean(request: CleanJob, state: GuiState = State) -> dict[str, list[str]]:
    """Gentle or harsh cleaning of a finished job."""
    return {"moved": [path.as_posix() for path in clean_job(state.project(), request.job, request.harsh)]}


@router.get("/trash")
def list_trash(state: GuiState = State) -> dict[str, list[str]]:
    """Deleted jobs that can be undeleted."""
    trash = state.project().root / TRASH
    records = sorted(trash.glob(f"*/*/{DELETED_PIPELINE}")) if trash.is_dir() else []
    return {"jobs": [record.parent.relative_to(trash).as_posix() + "/" for record in records]}


@router.post("/trash/empty")
def empty(state: GuiState = State) -> dict[str, int]:
    """Remove Trash/ for good."""
    return {"removed": empty_trash(state.project())}


@router.post("/autorun")
def autorun(request: Autorun, state: GuiState = State) -> dict[str, int]:
    """Run scheduled jobs (all, or those given) ``repeat`` times, at least ``wait`` minutes apart."""
    return {"pid": launching.start_autorun(state.project(), request.jobs, request.repeat, request.wait)}


@router.post("/autorun/stop")
def autorun_stop(state: GuiState = State) -> dict[str, bool]:
    """Stop the autorun after its current job."""
    return {"stopped": launching.stop_autorun(state.project())}


def _job_json(project: Project, pipeline: Pipeline, process: Process) -> dict[str, Any]:
    return {"name": process.name, "alias": process.alias, "type_label": process.type_label,
            "status": process.status.value,
            "inputs": [{"name": node, "type_label": _node_type(pipeline, node)} for node in pipeline.inputs_of(process.name)],
            "outputs": [{"name": node, "type_label": _node_type(pipeline, node)}
                        for node in pipeline.outputs_of(process.name)],
            "progress": read_progress(project.path(process.name))}


def _node_type(pipeline: Pipeline, name: str) -> str:
    node = pipeline.node(name)
    return node.type_label if node else ""


__all__ = ["router"]
