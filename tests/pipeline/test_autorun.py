"""Scheduling and autorun with repeats: on-the-fly processing picks up newly copied movies."""

from __future__ import annotations

from collections.abc import Callable

from tests.pipeline.helpers import make_files
from vitreo.io.star import read_star
from vitreo.pipeline.job_star import read_job_star
from vitreo.pipeline.project import Project

Cli = Callable[..., tuple[int, str, str]]


def test_autorun_repeats_import_only_complete_new_movies(project: Project, vitreo: Cli) -> None:
    root = project.root
    p = ("--project", root)
    make_files(root / "Movies", ["m1.tiff"])
    make_files(root / "Staging", ["m2.tiff", "m3.tiff"])
    code, out, err = vitreo("schedule", "Import", "--fn_in_raw", "Movies/*.tiff*", "--alias", "otf", *p)
    assert code == 0 and out.strip() == "Import/job001/ Scheduled", err
    assert read_job_star(root / "Import/job001/job.star").is_continue  # preprocessing starts as a continuation
    assert (root / ".Nodes/MicrographMovieGroupMetadata/Import/otf/movies.star").exists()
    assert vitreo("schedule", "vitreo.test.copy", *p)[0] == 0
    assert vitreo("schedule", "vitreo.test.consume", "--fn_in", "Import/otf/movies.star", *p)[0] == 0
    assert vitreo("schedule", "vitreo.test.ml", "--fn_in", "Import/job001/movies.star", *p)[0] == 0
    assert [x.status.value for x in project.read().processes] == ["Scheduled"] * 4

    code, out, err = vitreo("autorun", "--repeat", "3", "--wait", "0", *p)
    assert code == 0, err
    assert "repeat 3: executing External/job004/" in out
    movies = read_star(root / "Import/job001/movies.star")["movies"]["rlnMicrographMovieName"]
    # each repeat's copier finishes the movie it started copying (as .part) in the repeat before,
    # so m2 is imported in repeat 3 and m3, finished after the last import, is not
    assert list(movies) == ["Movies/m1.tiff", "Movies/m2.tiff"]
    assert (root / "Movies/m3.tiff").exists()
    assert (root / "External/job003/counts.txt").read_text().splitlines() == ["1 continue", "0 continue", "1 continue"]
    assert (root / "External/job004/log.txt").read_text().splitlines() == ["from scratch"] * 3
    assert [x.status.value for x in project.read().processes] == ["Succeeded"] * 4
    assert not (root / "RUNNING_PIPELINER_autorun").exists()
    log = (root / "pipeline_autorun.log").read_text()
    assert "performed all 3 repeat(s)" in log
    assert (root / "Import/job001/note.txt").read_text().count("vitreo autorun --repeat 3") == 3


def test_autorun_stops_at_a_failed_job(project: Project, vitreo: Cli) -> None:
    p = ("--project", project.root)
    vitreo("schedule", "vitreo.test.crash", *p)
    vitreo("schedule", "vitreo.test.sleep", "--seconds", "0", *p)
    code, _, err = vitreo("autorun", "--repeat", "2", *p)
    assert code == 1 and "External/job001/ failed" in err
    assert [x.status.value for x in project.read().processes] == ["Failed", "Scheduled"]
    code, _, err = vitreo("autorun", "job002", *p)
    assert code == 0, err
    assert project.read().process("External/job002/").status.value == "Succeeded"
    code, _, err = vitreo("autorun", *p)
    assert code == 1 and "no scheduled jobs" in err
