"""Fixtures for pipeline tests: a scratch project whose jobs run as real child processes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from vitreo.cli.main import main
from vitreo.pipeline.project import Project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """An empty project; the test job types are registered, imports probe briefly."""
    monkeypatch.setenv("VITREO_JOB_MODULES", "tests.pipeline.fake_jobs")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("VITREO_IMPORT_PROBE_SECONDS", "0.05")
    monkeypatch.setenv("VITREO_LOCK_TIMEOUT", "30")
    return Project.init(tmp_path / "project")


@pytest.fixture
def vitreo(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `vitreo ARGS` in this process: (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
