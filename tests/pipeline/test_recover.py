"""`vitreo project recover` rebuilds a damaged default_pipeline.star from the per-job copies."""

from __future__ import annotations

from collections.abc import Callable

from tests.pipeline.helpers import make_files
from vitreo.pipeline.pipeline_star import pipeline_blocks
from vitreo.io.star import blocks_equal
from vitreo.pipeline.project import Project

Cli = Callable[..., tuple[int, str, str]]


def test_recover_rebuilds_the_pipeline_from_job_copies(project: Project, vitreo: Cli) -> None:
    root = project.root
    p = ("--project", root)
    make_files(root / "Movies", ["m1.tiff"])
    assert vitreo("run", "Import", "--fn_in_raw", "Movies/*.tiff", "--alias", "movies", *p)[0] == 0
    assert vitreo("run", "vitreo.test.consume", "--fn_in", "Import/movies/movies.star", *p)[0] == 0
    assert vitreo("schedule", "vitreo.test.sleep", *p)[0] == 0
    assert vitreo("run", "vitreo.test.crash", *p)[0] == 1
    good = project.read()

    text = project.pipeline_path.read_text()
    project.pipeline_path.write_text(text[: len(text) // 2] + "\nloop_\n_rlnBroken\n")
    code, _, err = vitreo("project", "status", *p)
    assert code == 1 and "recover" in err

    (root / "External/job003/job_pipeline.star").unlink()  # the newest full copy still knows this job
    code, out, err = vitreo("project", "recover", *p)
    assert code == 0, err
    assert blocks_equal(pipeline_blocks(project.read()), pipeline_blocks(good))
    assert list(root.glob("default_pipeline.star.damaged-*"))

    project.pipeline_path.unlink()
    for name in ("External/job004/default_pipeline.star", "External/job003/default_pipeline.star"):
        (root / name).unlink()  # the newest full copies are gone: job004 comes from its job_pipeline.star
    code, out, err = vitreo("project", "recover", *p)
    assert code == 0 and "added External/job004/" in out, err
    recovered = project.read()
    assert [x.name for x in recovered.processes] == [x.name for x in good.processes if x.name != "External/job003/"]
    assert recovered.process("External/job004/").status.value == "Failed"
    assert recovered.process("Import/job001/").alias == "Import/movies/"
    assert recovered.job_counter == 5
