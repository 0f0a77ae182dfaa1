"""What every request handler needs: the project directory (which may not be a project yet)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from vitreo.pipeline.project import Project


@dataclass(frozen=True)
class GuiState:
    """The directory the GUI was started in."""

    root: Path

    def project(self) -> Project:
        """The project; InputError (answered 400) when the directory holds none yet."""
        return Project.open(self.root)


def gui_state(request: Request) -> GuiState:
    """FastAPI dependency: the application's :class:`GuiState`."""
    return request.app.state.gui


__all__ = ["GuiState", "gui_state"]
