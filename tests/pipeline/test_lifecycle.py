"""The whole life of jobs in a scratch project, through the `vitreo` commands (acceptance test
of issue 5): Import of movies, micrographs, coordinates, particles, maps and masks; aliases;
continue; failures and aborts; delete/undelete; clean; trash; flowchart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.pipeline.helpers import make_files
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, read_star, write_star
from vitreo.pipeline.markers import EXIT_ABORTED, EXIT_FAILURE, EXIT_SUCCESS
from vitreo.pipeline.model import Status
from vitreo.pipeline.project import Project

Cli = Callable[..., tuple[int, str, str]]


def statuses(project: Project) -> dict[str, str]:
    return {p.name: p.status.value for p in project.read().processes}


def test_import_every_node_type_with_aliases_and_continue(project: Project, vitreo: Cli) -> None:
    root = project.root
    p = ("--project", root)
    make_files(root / "Movies", ["m1.tiff", "m2.tiff"])
    make_files(root / "Micrographs", ["a.mrc", "b.mrc"])
    write_star(root / "Movies/m1_pick.star", {"": Table({"rlnCoordinateX": [1.0], "rlnCoordinateY": [2.0]})})
    write_star(root / "parts.star", {
        "optics": Table({"rlnOpticsGroupName": ["g"], "rlnOpticsGroup": [1], "rlnImagePixelSize": [1.0]}),
        "particles": Table({"rlnImageName": ["1@x.mrcs"], "rlnOpticsGroup": [1]})})
    write_mrc(root / "ref.mrc", np.zeros((4, 4, 4), np.float32), 1.0)
    write_mrc(root / "mask.mrc", np.ones((4, 4, 4), np.float32), 1.0)

    code, out, err = vitreo("run", "Import", "--fn_in_raw", "Movies/*.tiff", "--angpix", "0.885", "--alias",
                            "my movies", *p)
    assert code == 0, err
    assert out.strip() == "Import/job001/ Succeeded"
    other = ("--do_raw", "No", "--do_other", "Yes")
    runs = [("--fn_in_raw", "Micrographs/*.mrc", "--is_multiframe", "No"),
            (*other, "--fn_in_other", "Movies/*_pick.star"),
            (*other, "--fn_in_other", "parts.star", "--node_type", "Particles STAR file (.star)"),
            (*other, "--fn_in_other", "ref.mrc", "--node_type", "3D reference (.mrc)"),
            (*other, "--fn_in_other", "mask.mrc", "--node_type", "3D mask (.mrc)")]
    for args in runs:
        code, _, err = vitreo("run", "Import", *args, *p)
        assert code == 0, err
    pipeline = project.read()
    assert [(x.name, x.alias, x.type_label, x.status) for x in pipeline.processes[:2]] == [
        ("Import/job001/", "Import/my_movies/", "relion.import.movies", Status.SUCCEEDED),
        ("Import/job002/", None, "relion.import.movies", Status.SUCCEEDED)]
    assert [n.name for n in pipeline.nodes] == [
        "Import/job001/movies.star", "Import/job002/micrographs.star", "Import/job003/coords_suffix_pick.star",
        "Import/job004/parts.star", "Import/job005/ref.mrc", "Import/job006/mask.mrc"]
    assert pipeline.job_counter == 7
    assert (root / "Import/my_movies").resolve() == (root / "Import/job001").resolve()
    assert (root / ".Nodes/MicrographMovieGroupMetadata/Import/my_movies/movies.star").exists()
    assert (root / ".Nodes/Mask3D/Import/job006/mask.mrc").exists()
    for number in range(1, 7):
        job_dir = root / f"Import/job{number:03d}"
        assert (job_dir / EXIT_SUCCESS).exists() and (job_dir / "job.star").exists()
        assert (job_dir / "job_pipeline.star").exists() and (job_dir / "default_pipeline.star").exists()
    note = (root / "Import/job001/note.txt").read_text()
    assert "++++ Executing new job on" in note and "vitreo run Import --alias 'my movies'" in note

    code, out, _ = vitreo("project", "status", *p)
    assert code == 0 and "Import/job004/  -" in out and "out: Import/job006/mask.mrc" in out

    code, out, err = vitreo("job", "alias", "my_movies", "raw", *p)
    assert code == 0, err
    assert not (root / "Import/my_movies").exists() and (root / "Import/raw").is_symlink()
    assert project.read().process("Import/job001/").alias == "Import/raw/"
    assert (root / ".Nodes/MicrographMovieGroupMetadata/Import/raw/movies.star").exists()
    code, _, err = vitreo("job", "alias", "job002", "job_x", *p)
    assert code == 1 and "cannot start with 'job'" in err

    make_files(root / "Movies", ["m3.tiff"])
    code, _, err = vitreo("job", "continue", "raw", *p)
    assert code == 0, err
    movies = read_star(root / "Import/job001/movies.star")["movies"]["rlnMicrographMovieName"]
    assert list(movies) == ["Movies/m1.tiff", "Movies/m2.tiff", "Movies/m3.tiff"]
    code, _, err = vitreo("job", "continue", "raw", "--angpix", "2", *p)
    assert code == 1 and "cannot be changed" in err
    code, _, err = vitreo("job", "note", "1", "--append", "first import of the day", *p)
    assert code == 0
    assert vitreo("job", "note", "1", *p)[1].count("++++ Executing") == 2


def test_downstream_jobs_delete_undelete_clean_and_flowchart(project: Project, vitreo: Cli) -> None:
    root = project.root
    p = ("--project", root)
    make_files(root / "Movies", ["m1.tiff"])
    write_mrc(root / "mask.mrc", np.ones((4, 4, 4), np.float32), 1.0)
    assert vitreo("run", "Import", "--fn_in_raw", "Movies/*.tiff", "--alias", "movies", *p)[0] == 0
    assert vitreo("run", "Import", "--do_raw", "No", "--do_other", "Yes", "--fn_in_other", "mask.mrc",
                  "--node_type", "3D mask (.mrc)", *p)[0] == 0
    code, _, err = vitreo("run", "vitreo.test.consume", "--fn_in", "Import/movies/movies.star",
                          "--fn_mask", "Import/job002/mask.mrc", "--alias", "consumer", *p)
    assert code == 0, err
    assert vitreo("run", "vitreo.test.consume", "--fn_in", "Import/job002/mask.mrc", *p)[2].count(
        "needs MicrographMovieGroupMetadata") == 1
    pipeline = project.read()
    assert pipeline.input_edges == [("Import/job001/movies.star", "External/job003/"),
                                    ("Import/job002/mask.mrc", "External/job003/")]

    code, _, _ = vitreo("job", "flowchart", "consumer", "-o", root / "flow.svg", *p)
    svg = (root / "flow.svg").read_text()
    assert code == 0 and svg.startswith("<svg") and "1 movies" in svg and ">mask<" in svg
    assert svg.count("<rect") == 3 and "External/consumer" in svg
    assert vitreo("job", "flowchart", "consumer", "-o", root / "flow.html", *p)[0] == 0
    assert "<table>" in (root / "flow.html").read_text()

    (root / "External/job003/NO_HARSH_CLEAN").touch()
    (root / "External/job003/run_it001.old").write_text("old")
    code, _, err = vitreo("job", "clean", "consumer", "--harsh", *p)
    assert code == 1 and "NO_HARSH_CLEAN" in err
    code, out, _ = vitreo("job", "clean", "consumer", *p)
    assert code == 0 and "moved 2 " in out
    assert (root / "Trash/External/job003/tmp_1.dat").exists()
    assert (root / "Trash/External/job003/run_it001.old").exists()
    assert (root / "External/job003/scratch/big.dat").exists() and (root / "External/job003/seen.txt").exists()
    (root / "External/job003/NO_HARSH_CLEAN").unlink()
    vitreo("project", "clean", "--harsh", *p)
    assert not (root / "External/job003/scratch").exists() and (root / "External/job003/seen.txt").exists()
    assert (root / "Import/job001/movies.star").exists()

    code, out, err = vitreo("job", "delete", "movies", *p)
    assert code == 0, err
    assert "Import/job001/ External/job003/" in out
    assert [x.name for x in project.read().processes] == ["Import/job002/"]
    assert not (root / "Import/movies").exists() and not (root / "External/consumer").exists()
    assert (root / "Trash/Import/job001/deleted_pipeline.star").exists()
    assert (root / "Trash/External/job003/seen.txt").exists()
    assert not (root / ".Nodes/MicrographMovieGroupMetadata").exists()

    code, out, err = vitreo("job", "undelete", "External/job003", *p)
    assert code == 0, err
    pipeline = project.read()
    assert [x.name for x in pipeline.processes] == ["Import/job001/", "Import/job002/", "External/job003/"]
    assert pipeline.input_edges == [("Import/job001/movies.star", "External/job003/"),
                                    ("Import/job002/mask.mrc", "External/job003/")]
    assert (root / "Import/movies").is_symlink() and (root / "External/consumer/seen.txt").exists()
    assert pipeline.job_counter == 4

    code, _, err = vitreo("trash", "empty", *p)
    assert code == 1 and "--yes" in err
    assert vitreo("trash", "empty", "--yes", *p)[0] == 0 and not (root / "Trash").exists()
    code, _, err = vitreo("run", "Import", "--fn_in_raw", "Movies/*.tiff", *p)
    assert project.read().processes[-1].name == "Import/job004/"


def test_failures_aborts_and_marks(project: Project, vitreo: Cli) -> None:
    root = project.root
    p = ("--project", root)
    code, _, err = vitreo("run", "vitreo.test.crash", *p)
    assert code == 1 and "boom: the fake job crashed" in err
    run_err = (root / "External/job001/run.err").read_text()
    assert "Traceback" in run_err and "RuntimeError: boom" in run_err
    assert (root / "External/job001" / EXIT_FAILURE).exists()
    assert statuses(project)["External/job001/"] == "Failed"

    code, out, err = vitreo("run", "vitreo.test.sleep", "--seconds", "60", "--background", *p)
    assert code == 0 and "running in the background" in out, err
    code, _, err = vitreo("job", "abort", "job002", *p)
    assert code == 0, err
    deadline = time.monotonic() + 30
    while statuses(project)["External/job002/"] == "Running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert statuses(project)["External/job002/"] == "Aborted"
    assert (root / "External/job002" / EXIT_ABORTED).exists()
    assert not (root / "External/job002/RELION_JOB_ABORT_NOW").exists()
    code, _, err = vitreo("job", "abort", "job002", *p)
    assert code == 1 and "not running" in err
    assert vitreo("run", "vitreo.test.busy", "--seconds", "60", "--background", *p)[0] == 0
    time.sleep(0.5)  # let it start sleeping
    assert vitreo("job", "abort", "job003", *p)[0] == 0
    deadline = time.monotonic() + 30
    while statuses(project)["External/job003/"] == "Running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert statuses(project)["External/job003/"] == "Aborted"

    code, _, _ = vitreo("job", "mark-finished", "job002", *p)
    assert code == 0 and statuses(project)["External/job002/"] == "Succeeded"
    assert project.read().outputs_of("External/job002/") == []  # slept.txt never written
    assert vitreo("job", "mark-finished", "job002", "--failed", *p)[0] == 0
    assert statuses(project)["External/job002/"] == "Failed"

    code, _, err = vitreo("run", "vitreo.test.ml", *p)
    assert code == 0, err
    code, _, err = vitreo("job", "continue", "job004", *p)
    assert code == 1 and "needs --fn_cont" in err
    optimiser = "External/job004/run_it001_optimiser.star"
    code, _, err = vitreo("job", "continue", "job004", "--fn_cont", optimiser, *p)
    assert code == 0, err
    assert (root / "External/job004/log.txt").read_text().splitlines() == [
        "from scratch", f"continue from {optimiser}"]
    assert optimiser in project.read().outputs_of("External/job004/")


def test_a_job_killed_without_a_marker_is_failed(project: Project, vitreo: Cli) -> None:
    import os
    import signal

    root = project.root
    code, _, err = vitreo("run", "vitreo.test.sleep", "--seconds", "60", "--background", "--project", root)
    assert code == 0, err
    pid = int((root / "External/job001/.vitreo_job_pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break
        time.sleep(0.05)
    code, out, _ = vitreo("project", "status", "--project", root)
    assert "Failed" in out
    assert "ended without reporting" in (root / "External/job001/run.err").read_text()
