"""The FastAPI application: guards, the project endpoints, the API routers and the front end.

``create_app(root, token)`` serves the project in ``root`` (which may not be a project yet:
the page then offers to create one). Errors become JSON ``{"error": "one line"}``: bad input
400, a file outside the project 403, a missing file 404.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from vitreo import __version__
from vitreo.gui import display_api, jobs_api, picking_api, plots_api
from vitreo.gui.paths import PathRefused
from vitreo.gui.security import guard
from vitreo.gui.state import GuiState, gui_state
from vitreo.io.errors import InputError
from vitreo.pipeline.project import PIPELINE_FILE, Project, enclosing_project

STATIC = Path(__file__).parent / "static"


def create_app(root: str | Path, token: str, allowed_hosts: Collection[str] | None = None) -> FastAPI:
    """The GUI for the project directory ``root``; every request must carry ``token``.

    ``allowed_hosts``: the Host names served (None: any, e.g. behind an SSH tunnel to 0.0.0.0).
    """
    app = FastAPI(title="vitreo", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.gui = GuiState(Path(root).resolve())
    app.middleware("http")(guard(token, None if allowed_hosts is None else set(allowed_hosts)))
    for error, status in ((InputError, 400), (ValueError, 400), (KeyError, 400), (PathRefused, 403),
                          (FileNotFoundError, 404), (NotADirectoryError, 400), (PermissionError, 403)):
        app.add_exception_handler(error, _handler(status))
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(jobs_api.router)
    app.include_router(display_api.router)
    app.include_router(picking_api.router)
    app.include_router(plots_api.router)
    app.get("/api/project")(project_info)
    app.post("/api/project")(create_project)
    app.get("/", include_in_schema=False)(lambda: FileResponse(STATIC / "index.html"))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def project_info(state: GuiState = Depends(gui_state)) -> dict[str, Any]:
    """Whether the directory is a project, and where a new one would be made."""
    enclosing = enclosing_project(state.root)
    return {"root": str(state.root), "name": state.root.name, "exists": (state.root / PIPELINE_FILE).is_file(),
            "inside": str(enclosing) if enclosing and enclosing != state.root else None, "version": __version__}


def create_project(state: GuiState = Depends(gui_state)) -> dict[str, Any]:
    """Create the project in the GUI's directory (the page asks the user to confirm first)."""
    Project.init(state.root)
    return project_info(state)


def _handler(status: int):
    async def handle(request: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"error": _message(err)}, status_code=status)

    return handle


def _message(err: Exception) -> str:
    if isinstance(err, OSError) and err.filename:
        return f"{err.filename}: {err.strerror}"
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err)


async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
    return JSONResponse({"error": problems}, status_code=422)


__all__ = ["create_app", "STATIC"]
