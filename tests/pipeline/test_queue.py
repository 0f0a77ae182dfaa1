"""Queue submission: RELION's template placeholders, a configurable submit command (a fake sbatch)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pipeline.helpers import make_files
from vitreo.pipeline.project import Project
from vitreo.pipeline.queue import QueueRequest, fill_template

Cli = Callable[..., tuple[int, str, str]]

TEMPLATE = """#!/bin/bash
#SBATCH --job-name=XXXnameXXX
#SBATCH --partition=XXXqueueXXX
#SBATCH --ntasks=XXXmpinodesXXX --cpus-per-task=XXXthreadsXXX --nodes=XXXnodesXXX
#SBATCH --error=XXXerrfileXXX --output=XXXoutfileXXX
#SBATCH --time=XXXextra1XXX
# cores XXXcoresXXX, at least XXXdedicatedXXX per node
XXXcommandXXX
"""


def test_template_placeholders_follow_relion() -> None:
    request = QueueRequest("Class2D/job010/", "run it", "gpu", mpi=5, threads=6, min_dedicated=8,
                           extras={1: "12:00:00"})
    text = fill_template(TEMPLATE, request)
    assert "--job-name=Class2D/job010/" in text and "--partition=gpu" in text
    assert "--ntasks=5 --cpus-per-task=6 --nodes=4" in text  # ceil(30 / 8)
    assert "--error=Class2D/job010/run.err --output=Class2D/job010/run.out" in text
    assert "--time=12:00:00" in text and "# cores 30, at least 8 per node" in text
    assert text.rstrip().endswith("run it") and "XXX" not in text


def test_jobs_run_through_a_fake_sbatch(project: Project, vitreo: Cli, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = project.root
    (root / "slurm.sh").write_text(TEMPLATE.replace("XXXcommandXXX", "XXXcommandXXX >>XXXoutfileXXX 2>>XXXerrfileXXX"))
    fake = tmp_path / "fake_sbatch"
    fake.write_text('#!/bin/sh\necho "$@" >> submitted.txt\nbash "$1"\necho "Submitted batch job 4242"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("RELION_QSUB_TEMPLATE", "slurm.sh")
    monkeypatch.setenv("RELION_QSUB_COMMAND", str(fake))
    monkeypatch.setenv("RELION_QUEUE_NAME", "short")
    monkeypatch.setenv("RELION_QSUB_EXTRA1", "Time limit:")
    monkeypatch.setenv("RELION_QSUB_EXTRA1_DEFAULT", "1:00:00")
    make_files(root / "Movies", ["m1.tiff"])
    code, out, err = vitreo("run", "Import", "--fn_in_raw", "Movies/*.tiff", "--do_queue", "Yes",
                            "--project", root)
    assert code == 0, err
    assert "Import/job001/ submitted to the queue" in out
    script = (root / "Import/job001/run_submit.script").read_text()
    assert "--partition=short" in script and "--time=1:00:00" in script
    assert "-m vitreo.pipeline.execute --project" in script
    assert (root / "submitted.txt").read_text().strip() == "Import/job001/run_submit.script"
    deadline = time.monotonic() + 20
    while project.read().process("Import/job001/").status.value == "Running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert project.read().process("Import/job001/").status.value == "Succeeded"
    assert "Submitted batch job 4242" in (root / "Import/job001/run.out").read_text()
    assert (root / "Import/job001/movies.star").exists()

    fake.write_text("#!/bin/sh\necho 'sbatch: error: invalid partition' >&2\nexit 1\n")
    code, _, err = vitreo("run", "Import", "--fn_in_raw", "Movies/*.tiff", "--do_queue", "Yes", "--project", root)
    assert code == 1 and "invalid partition" in err
    assert project.read().process("Import/job002/").status.value == "Failed"


def test_relion5s_disabled_option_marker_reads_as_the_default() -> None:
    """RELION 5 job.star files of sites that disable an option hold JSE_DISABLED_PARALLEL there."""
    from vitreo.jobs.registry import spec_for_label
    from vitreo.pipeline.submit import params_from_values

    params, _ = params_from_values(spec_for_label("relion.class2d"), {"min_dedicated": "JSE_DISABLED_PARALLEL"})
    assert params.integer("min_dedicated") >= 1
    with pytest.raises(ValueError, match="must be a number"):
        params_from_values(spec_for_label("relion.class2d"), {"min_dedicated": "many"})
