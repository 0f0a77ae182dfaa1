"""The pipeline through the API: create a project, job types with Browse lists, run Import (a
real child process), read its stdout, job actions, schedule, autorun and the trash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.gui.conftest import gui_client
from tests.pipeline.helpers import make_files
from vitreo.pipeline.pipeline_star import read_pipeline

WAIT_S = 180.0


@pytest.fixture(autouse=True)
def quick_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITREO_IMPORT_PROBE_SECONDS", "0.05")


def wait_until_finished(client: TestClient, job: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        jobs = {j["name"]: j for j in client.get("/api/jobs").json()["jobs"]}
        if jobs[job]["status"] not in ("Running", "Scheduled"):
            return jobs[job]
        time.sleep(0.2)
    raise AssertionError(f"{job} did not finish within {WAIT_S} s")


def test_create_a_project_from_the_page(tmp_path: Path) -> None:
    client = gui_client(tmp_path / "new")
    (tmp_path / "new").mkdir()
    info = client.get("/api/project").json()
    assert info["exists"] is False
    assert client.get("/api/jobs").status_code == 400  # not a project yet: one clear line
    assert "not a project directory" in client.get("/api/jobs").json()["error"]
    assert client.post("/api/project").json()["exists"] is True
    assert (tmp_path / "new/default_pipeline.star").is_file()
    response = client.post("/api/project")
    assert response.status_code == 400 and "already a project" in response.json()["error"]


def test_job_types_give_tabs_help_and_browse_lists(client: TestClient) -> None:
    types = client.get("/api/types").json()
    assert {"Import", "MotionCorr", "Extract"} <= {t["directory"] for t in types}
    spec = client.get("/api/types/relion.import").json()
    assert spec["tabs"][0]["name"] and all(o["help"] for tab in spec["tabs"] for o in tab["options"] if o["kind"] != "text")
    raw = {o["name"]: o for tab in spec["tabs"] for o in tab["options"]}["fn_in_raw"]
    assert raw["default"] == "Micrographs/*.tif" and raw["kind"] == "file"
    assert client.get("/api/types/Nonsense").status_code == 400


def test_run_import_read_its_output_and_act_on_it(project: Path, client: TestClient) -> None:
    make_files(project / "Movies", ["m1.tiff", "m2.tiff"])
    response = client.post("/api/jobs", json={"type": "Import", "values": {"fn_in_raw": "Movies/*.tiff",
                                                                           "angpix": "0.885"}, "alias": "movies"})
    assert response.status_code == 200, response.text
    job = response.json()["job"]
    assert job == "Import/job001/"
    finished = wait_until_finished(client, job)
    assert finished["status"] == "Succeeded" and finished["alias"] == "Import/movies/"
    assert [o["name"] for o in finished["outputs"]] == ["Import/job001/movies.star"]
    lists = client.get("/api/jobs").json()["lists"]
    assert lists["finished"] == [job] and lists["running"] == []

    log = client.get("/api/job/log", params={"job": job, "stream": "out"}).json()
    assert "Running Import/job001/" in log["text"] and log["offset"] == log["size"] > 0
    again = client.get("/api/job/log", params={"job": job, "stream": "out", "offset": log["offset"]}).json()
    assert again["text"] == "" and again["offset"] == log["offset"]  # incremental: nothing new
    tail = client.get("/api/job/log", params={"job": job, "offset": -10}).json()
    assert tail["text"] == log["text"][-10:]
    assert client.get("/api/job/log", params={"job": job, "stream": "nope"}).status_code == 400

    details = client.get("/api/job", params={"job": "movies"}).json()
    assert details["values"]["angpix"] == "0.885" and "vitreo run Import --alias movies" in details["note"]
    motioncorr = client.get("/api/types/MotionCorr").json()
    inputs = [o for tab in motioncorr["tabs"] for o in tab["options"] if o["kind"] == "input_node"]
    assert inputs[0]["nodes"] == ["Import/job001/movies.star"]  # the Browse list

    assert "hello" in client.post("/api/job/note", json={"job": job, "text": "hello"}).json()["note"]
    assert client.post("/api/job/alias", json={"job": job, "alias": "raw"}).json()["alias"] == "Import/raw/"
    assert client.get("/api/job/flowchart", params={"job": job}).text.startswith("<svg")
    assert client.post("/api/job/clean", json={"job": job}).status_code == 200
    assert client.post("/api/job/mark_finished", json={"job": job, "failed": True}).json()["job"] == job
    assert client.get("/api/jobs").json()["lists"]["failed"] == [job]
    assert client.post("/api/job/abort", json={"job": job}).status_code == 400  # not running

    assert client.post("/api/job/delete", json={"job": job}).json()["deleted"] == [job]
    assert client.get("/api/trash").json()["jobs"] == [job]
    assert client.post("/api/job/undelete", json={"job": job}).json()["restored"] == [job]
    assert (project / job / "movies.star").is_file()
    client.post("/api/job/delete", json={"job": job})
    assert client.post("/api/trash/empty").json()["removed"] > 0
    assert not (project / "Trash").exists() and read_pipeline(project / "default_pipeline.star").processes == []


def test_schedule_then_autorun_and_continue(project: Path, client: TestClient) -> None:
    make_files(project / "Movies", ["m1.tiff"])
    scheduled = client.post("/api/jobs", json={"type": "relion.import", "values": {"fn_in_raw": "Movies/*.tiff"},
                                               "schedule": True}).json()
    assert scheduled == {"job": "Import/job001/", "status": "Scheduled"}
    assert client.get("/api/jobs").json()["lists"]["scheduled"] == ["Import/job001/"]
    assert client.post("/api/autorun", json={"repeat": 0}).status_code == 400
    assert client.post("/api/autorun", json={"repeat": 1, "wait": 0}).json()["pid"] > 0
    assert wait_until_finished(client, "Import/job001/")["status"] == "Succeeded"
    deadline = time.monotonic() + WAIT_S
    while client.get("/api/jobs").json()["autorun"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "performed all 1 repeat(s)" in (project / "pipeline_autorun.log").read_text()

    make_files(project / "Movies", ["m2.tiff"])
    refused = client.post("/api/job/continue", json={"job": "1", "values": {"angpix": "2"}})
    assert refused.status_code == 400 and "cannot be changed" in refused.json()["error"]
    assert client.post("/api/job/continue", json={"job": "1"}).json()["status"] == "Running"
    assert wait_until_finished(client, "Import/job001/")["status"] == "Succeeded"
    assert "m2.tiff" in (project / "Import/job001/movies.star").read_text()


def test_bad_requests_give_one_line_errors(project: Path, client: TestClient) -> None:
    response = client.post("/api/jobs", json={"type": "Import", "values": {"angpix": "abc"}})
    assert response.status_code == 400 and response.json()["error"] == "option angpix must be a number, not 'abc'"
    response = client.post("/api/jobs", json={"type": "Import", "values": {"nonsense": "1"}})
    assert response.status_code == 400 and "no option --nonsense" in response.json()["error"]
    assert client.post("/api/jobs", json={"values": {}}).status_code == 422
    assert client.get("/api/job", params={"job": "job099"}).status_code == 400
    assert read_pipeline(project / "default_pipeline.star").processes == []


def test_log_reading_restarts_when_a_new_run_truncates_the_file(tmp_path: Path) -> None:
    from vitreo.gui.job_logs import MAX_CHUNK, read_log

    (tmp_path / "run.err").write_text("first run, long output\n")
    first = read_log(tmp_path, "err", 0)
    assert first["offset"] == 23 and not first["reset"]
    (tmp_path / "run.err").write_text("new\n")
    again = read_log(tmp_path, "err", first["offset"])
    assert again["reset"] and again["text"] == "new\n" and again["offset"] == 4
    (tmp_path / "run.out").write_bytes(b"x" * (MAX_CHUNK + 5))
    chunk = read_log(tmp_path, "out", 0)
    assert chunk["more"] and chunk["offset"] == MAX_CHUNK
    assert read_log(tmp_path, "out", chunk["offset"])["text"] == "x" * 5
    assert read_log(tmp_path / "none", "out", 0) == {"text": "", "start": 0, "offset": 0, "size": 0, "reset": False,
                                                      "more": False}
