"""`vitreo gui`: creating the project on confirmation, and a real server on 127.0.0.1 with its token."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from vitreo.cli.main import main
from vitreo.pipeline.project import Project


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []
    monkeypatch.setattr("vitreo.gui.server.serve", lambda root, **kwargs: calls.append({"root": root, **kwargs}))
    return calls


def run_cli(*args: str | Path) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_gui_creates_the_project_when_confirmed(tmp_path: Path, served: list[dict]) -> None:
    assert run_cli("gui", "--project", tmp_path / "new", "--yes", "--no-browser") == 0
    assert (tmp_path / "new/default_pipeline.star").is_file()
    assert served[0]["host"] == "127.0.0.1" and served[0]["open_browser"] is False


def test_without_a_terminal_the_page_asks(tmp_path: Path, served: list[dict], capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert run_cli("gui", "--project", tmp_path, "--no-browser") == 0
    assert not (tmp_path / "default_pipeline.star").exists() and "the page will ask" in capsys.readouterr().err
    Project.init(tmp_path / "p")
    (tmp_path / "p/sub").mkdir()
    assert run_cli("gui", "--project", tmp_path / "p/sub") == 1
    assert "inside the project" in capsys.readouterr().err


def status_without_token(url: str) -> int:
    """The HTTP status of a request without the token, once the server listens."""
    for _ in range(200):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code
        except urllib.error.URLError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens at {url}")


def test_a_real_server_on_loopback_needs_its_token(tmp_path: Path) -> None:
    Project.init(tmp_path)
    server = subprocess.Popen([sys.executable, "-m", "vitreo", "gui", "--no-browser", "--project", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        url = line.split(" at ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        base, token = url.split("/?token=")
        assert status_without_token(base + "/api/project") == 401
        request = urllib.request.Request(base + "/api/project", headers={"X-Vitreo-Token": token})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["exists"] is True
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_display_serves_the_files_project_and_names_the_file(tmp_path: Path, served: list[dict],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    Project.init(tmp_path / "p")
    (tmp_path / "p/Refine3D").mkdir()
    (tmp_path / "p/Refine3D/run class001.mrc").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert run_cli("display", "p/Refine3D/run class001.mrc", "--no-browser") == 0
    assert served[0]["root"] == (tmp_path / "p").resolve()
    assert served[0]["fragment"] == "display=Refine3D/run%20class001.mrc"
    (tmp_path / "loose.star").write_text("x")
    assert run_cli("display", "loose.star", "--no-browser") == 0
    assert served[1]["root"] == tmp_path.resolve() and served[1]["fragment"] == "display=loose.star"
    assert run_cli("display", "missing.mrc") == 1
