"""Schemes: a chain of jobs run through the pipeline, resumed after a failure."""

from __future__ import annotations

import shlex

import pytest

from tests.pipeline.helpers import make_files
from vitreo.pipeline.model import Status
from vitreo.pipeline.project import Project
from vitreo.cli.job_args import parse_job_args
from vitreo.pipeline.scheme import Stage, StageFailed, resolve_params, run_command_line, run_scheme


def _stages(crash: bool) -> list[Stage]:
    return [
        Stage("movies", "Import", {"fn_in_raw": "Movies/*.tiff"}),
        Stage("seen", "vitreo.test.crash" if crash else "vitreo.test.consume", {} if crash else
              {"fn_in": "{movies}movies.star"}),
        Stage("nap", "vitreo.test.sleep", {"seconds": "0"}),
    ]


def test_scheme_runs_in_order_and_resumes_after_a_failure(project: Project) -> None:
    make_files(project.root / "Movies", ["m1.tiff", "m2.tiff"])
    with pytest.raises(StageFailed, match=r"seen \(External/job002/\) failed: .*boom"):
        run_scheme(project, _stages(crash=True))
    assert [p.status for p in project.read().processes] == [Status.SUCCEEDED, Status.FAILED]

    started = []
    results = run_scheme(project, _stages(crash=False), before=lambda i, s: started.append(s.alias))
    assert [r.reused for r in results] == [True, False, False]
    assert started == ["movies", "seen", "nap"]
    assert [r.job for r in results] == ["Import/job001/", "External/job003/", "External/job004/"]
    assert (project.root / "Trash/External/job002").is_dir()  # the failed job went to the Trash
    assert (project.root / "External/job003/seen.txt").read_text().split() == ["Movies/m1.tiff", "Movies/m2.tiff"]
    assert project.read().process("External/job003/").alias == "External/seen/"

    again = run_scheme(project, _stages(crash=False))
    assert all(r.reused for r in again) and [r.job for r in again] == [r.job for r in results]


def test_stage_references_must_name_earlier_stages() -> None:
    stage = Stage("b", "Import", {"fn_in": "{a}movies.star", "other": "{missing}x"})
    with pytest.raises(ValueError, match=r"\{missing\} names no earlier stage"):
        resolve_params(stage, {"a": "Import/job001/"})
    assert resolve_params(Stage("b", "Import", {"fn_in": "{a}movies.star"}), {"a": "Import/job001/"}) == \
        {"fn_in": "Import/job001/movies.star"}


def test_unknown_options_and_repeated_aliases_are_refused(project: Project) -> None:
    with pytest.raises(ValueError, match="distinct aliases"):
        run_scheme(project, [Stage("x1", "Import", {}), Stage("x1", "Import", {})])
    with pytest.raises(ValueError, match="has no option no_such_option"):
        run_scheme(project, [Stage("x1", "Import", {"no_such_option": "1"})])
    assert project.read().processes == []


def test_deferred_values_are_computed_when_the_stage_starts(tmp_path) -> None:  # noqa: ANN001
    seen = []

    def best_class(root, jobs):  # noqa: ANN001, ANN202
        seen.append((root, dict(jobs)))
        return jobs["a"] + "run_class002.mrc"

    stage = Stage("b", "Import", {"fn_in_other": best_class, "node_type": "3D reference (.mrc)"})
    assert resolve_params(stage, {"a": "Class3D/job001/"}, tmp_path) == {
        "fn_in_other": "Class3D/job001/run_class002.mrc", "node_type": "3D reference (.mrc)"}
    assert seen == [(tmp_path, {"a": "Class3D/job001/"})]


def test_the_recorded_command_gives_back_the_values() -> None:
    values = {"other_args": "--save_movies", "bg_diameter": "-1", "sampling": "7.5 degrees", "fn_mtf": ""}
    line = run_command_line("MotionCorr", "motioncorr", values)
    assert "--other_args=--save_movies" in line
    assert parse_job_args(shlex.split(line)[5:]) == values
