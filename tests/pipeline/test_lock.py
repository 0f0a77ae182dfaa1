"""The project lock: parallel writers never corrupt the pipeline or share a job number; a killed
writer leaves the last good pipeline; stale locks are recovered; live ones time out clearly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vitreo.io.errors import InputError
from vitreo.pipeline.lock import LOCK_DIR, LOCK_FILE, project_lock
from vitreo.pipeline.model import Process, Status
from vitreo.pipeline.project import Project

CREATE_JOBS = textwrap.dedent("""
    import sys
    from vitreo.jobs.registry import find_spec
    from vitreo.pipeline.project import Project
    from vitreo.pipeline.submit import create_job
    spec = find_spec("vitreo.test.sleep")
    for _ in range(int(sys.argv[2])):
        create_job(Project(sys.argv[1]), spec, spec.params({}), schedule=True)
""")

KILLED_WRITER = textwrap.dedent("""
    import sys, time
    import vitreo.pipeline.pipeline_star as pipeline_star
    from vitreo.io.atomic import atomic_path
    from vitreo.pipeline.model import Process, Status
    from vitreo.pipeline.project import Project

    def slow_write(path, blocks, version=None):
        with atomic_path(path) as tmp, open(tmp, "w") as fh:
            fh.write("# version 50001\\n\\ndata_pipeline_general\\n\\n_rlnPipeLineJobCounter 99\\n\\ndata_pipel")
            fh.flush()
            print("writing", flush=True)
            time.sleep(60)

    pipeline_star.write_star = slow_write
    with Project(sys.argv[1]).edit("a writer that will be killed") as pipeline:
        pipeline.add_process(Process("Import/job042/", None, "relion.import.movies", Status.RUNNING))
""")


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)


def test_parallel_writers_get_unique_job_numbers(project: Project) -> None:
    writers = [_python(CREATE_JOBS, str(project.root), "5") for _ in range(4)]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    pipeline = project.read()
    names = [p.name for p in pipeline.processes]
    assert sorted(names) == [f"External/job{i:03d}/" for i in range(1, 21)]
    assert pipeline.job_counter == 21
    assert all((project.root / name / "job.star").exists() for name in names)
    assert not (project.root / LOCK_DIR).exists()


def test_a_killed_writer_leaves_the_last_good_pipeline(project: Project) -> None:
    before = project.pipeline_path.read_bytes()
    writer = _python(KILLED_WRITER, str(project.root))
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert project.pipeline_path.read_bytes() == before
    assert (project.root / LOCK_DIR / LOCK_FILE).exists()  # left behind by the dead writer
    with project.edit("next writer") as pipeline:  # recovers the stale lock at once
        pipeline.add_process(Process("Import/job001/", None, "relion.import.movies", Status.SUCCEEDED))
    assert [p.name for p in project.read().processes] == ["Import/job001/"]
    assert not (project.root / LOCK_DIR).exists()


def test_stale_lock_of_a_dead_process_is_recovered(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    (tmp_path / LOCK_DIR).mkdir()
    (tmp_path / LOCK_DIR / LOCK_FILE).write_text(
        f"runJob: Import/job001/\nvitreo pid {finished.stdout.strip()} on host {socket.gethostname()} since x\n")
    with project_lock(tmp_path, "test", timeout=2):
        assert f"vitreo pid {os.getpid()}" in (tmp_path / LOCK_DIR / LOCK_FILE).read_text()
    assert not (tmp_path / LOCK_DIR).exists()


def test_a_live_lock_times_out_naming_lock_and_holder(tmp_path: Path) -> None:
    (tmp_path / LOCK_DIR).mkdir()
    (tmp_path / LOCK_DIR / LOCK_FILE).write_text(
        f"runJob: Class2D/job010/\nvitreo pid {os.getpid()} on host {socket.gethostname()} since x\n")
    with pytest.raises(InputError) as caught:
        with project_lock(tmp_path, "test", timeout=0.5):
            pass
    message = str(caught.value)
    assert f"{LOCK_DIR}/{LOCK_FILE}" in message and f"pid {os.getpid()}" in message
    assert "runJob: Class2D/job010/" in message
    (tmp_path / LOCK_DIR / LOCK_FILE).write_text("runJob: a RELION GUI\n")  # RELION's holder has no pid
    with pytest.raises(InputError, match="a RELION GUI"):
        with project_lock(tmp_path, "test", timeout=0.3):
            pass
