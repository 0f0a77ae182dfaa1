"""Every request needs the start-up token; cross-origin requests, unknown hosts and files outside
the project are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.gui.conftest import TOKEN, gui_client
from vitreo.gui.app import create_app
from vitreo.gui.paths import PathRefused, project_file
from vitreo.gui.server import allowed_hosts, start_url


@pytest.mark.parametrize("path", ["/api/project", "/api/jobs", "/", "/static/app.js",
                                  "/api/display/star?path=default_pipeline.star"])
def test_every_request_needs_the_token(project: Path, path: str) -> None:
    bare = TestClient(create_app(project, TOKEN))
    assert bare.get(path).status_code == 401
    assert bare.get(path, headers={"x-vitreo-token": "wrong"}).status_code == 401
    assert bare.get(path, headers={"x-vitreo-token": TOKEN}).status_code == 200
    assert bare.post("/api/project", headers={"x-vitreo-token": "wrong"}).status_code == 401


def test_the_start_url_sets_a_cookie_and_drops_the_token_from_the_address(project: Path) -> None:
    browser = TestClient(create_app(project, TOKEN))
    response = browser.get(f"/?token={TOKEN}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert TOKEN in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert browser.get("/api/project").status_code == 200  # the cookie now carries the token
    assert "<title>vitreo</title>" in browser.get("/").text
    assert TestClient(create_app(project, TOKEN)).get("/?token=nope").status_code == 401


@pytest.mark.parametrize("headers", [{"origin": "http://evil.example"}, {"origin": "null"},
                                     {"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"}])
def test_cross_origin_requests_are_refused_even_with_the_token(client: TestClient, headers: dict) -> None:
    response = client.post("/api/trash/empty", headers=headers)
    assert response.status_code == 403 and "cross-origin" in response.json()["error"]
    assert client.get("/api/jobs", headers=headers).status_code == 403


def test_same_origin_requests_pass(client: TestClient) -> None:
    headers = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}
    assert client.get("/api/jobs", headers=headers).status_code == 200


def test_unknown_hosts_are_refused(project: Path) -> None:
    client = gui_client(project, allowed_hosts={"testserver"})
    assert client.get("/api/project").status_code == 200
    response = client.get("/api/project", headers={"host": "rebound.example:8000"})
    assert response.status_code == 403 and "not served" in response.json()["error"]


def test_server_defaults_bind_loopback_names_only() -> None:
    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("0.0.0.0") is None
    assert start_url("127.0.0.1", 8123, "abc") == "http://127.0.0.1:8123/?token=abc"


@pytest.mark.parametrize("name", ["../outside.txt", "Movies/../../outside.txt", "link/outside.txt",
                                  "escape.txt", "/etc/passwd", "", "a\x00b"])
def test_no_file_outside_the_project_is_served(project: Path, client: TestClient, name: str) -> None:
    outside = project.parent / "outside.txt"
    outside.write_text("secret")
    os.symlink(project.parent, project / "link")
    os.symlink(outside, project / "escape.txt")
    (project / "Movies").mkdir()
    with pytest.raises(PathRefused):
        project_file(project, name)
    for endpoint in ("files", "display/kind", "display/micrograph.png", "display/star", "display/stack", "browse",
                     "display/map", "display/angdist", "display/motion", "display/ctf", "display/ctf/fit.png"):
        response = client.get(f"/api/{endpoint}", params={"path": name})
        assert response.status_code == 403, (endpoint, response.status_code)
        assert "secret" not in response.text


def test_browse_hides_links_that_leave_the_project(project: Path, client: TestClient) -> None:
    os.symlink(project.parent, project / "link")
    (project / "inside.txt").write_text("ok")
    names = [entry["name"] for entry in client.get("/api/browse").json()["entries"]]
    assert "inside.txt" in names and "link" not in names
    assert client.get("/api/files", params={"path": "inside.txt"}).text == "ok"
    assert client.get("/api/files", params={"path": "inside.txt"}).headers["content-security-policy"] == "sandbox"


def test_maps_named_by_a_model_must_lie_in_the_project(project: Path, client: TestClient) -> None:
    import numpy as np

    from vitreo.io.mrc import write_mrc
    from vitreo.io.star import Table, write_star

    write_mrc(project.parent / "outside.mrc", np.ones((8, 8, 8), np.float32), 1.0)
    write_star(project / "run_model.star", {"model_general": {"rlnReferenceDimensionality": 3},
                                            "model_classes": Table({"rlnReferenceImage": ["../outside.mrc"],
                                                                    "rlnClassDistribution": [1.0]})})
    assert client.get("/api/display/montage.png", params={"path": "run_model.star"}).status_code == 403
