"""Picking endpoints: a ManualPick/AutoPick job's micrographs, and reading and saving their picks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from vitreo.gui.picking import job_summary, picking_job, read_picks, save_picks
from vitreo.gui.state import GuiState, gui_state

router = APIRouter(prefix="/api")
State = Depends(gui_state)


class Picks(BaseModel):
    job: str
    micrograph: str
    x: list[float]
    y: list[float]
    fom: list[float] | None = None


@router.get("/picking")
def picking(job: str, state: GuiState = State) -> dict[str, Any]:
    """The job's micrographs with their pick counts, the particle diameter (Å) and display settings."""
    project = state.project()
    return job_summary(project, picking_job(project, job))


@router.get("/picking/picks")
def get_picks(job: str, micrograph: str, colour: str = "rlnAutopickFigureOfMerit",
              state: GuiState = State) -> dict[str, Any]:
    """The picks of one micrograph (pixels), their FOM and the values of the colour label."""
    project = state.project()
    return read_picks(project, picking_job(project, job), micrograph, colour)


@router.post("/picking/picks")
def post_picks(request: Picks, state: GuiState = State) -> dict[str, Any]:
    """Save the picks of one micrograph into the job (its coordinate file and index)."""
    project = state.project()
    count = save_picks(project, picking_job(project, request.job), request.micrograph, request.x, request.y,
                       request.fom)
    return {"job": request.job, "micrograph": request.micrograph, "saved": count}


__all__ = ["router"]
