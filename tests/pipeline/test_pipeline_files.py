"""default_pipeline.star and job.star have RELION 5's blocks and labels; RELION 3.1 and 5 pipelines read."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pipeline.helpers import make_files
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, read_star_version
from vitreo.pipeline.model import Status
from vitreo.pipeline.pipeline_star import read_pipeline, write_pipeline
from vitreo.pipeline.project import Project

Cli = Callable[..., tuple[int, str, str]]
RELION5 = "star/relion5_betagal_sppractice"


def layout(path: Path) -> dict[str, list[str]]:
    """Block names and, for each, its labels (loop columns or key-value keys)."""
    blocks = read_star(path)
    return {name: (block.labels if isinstance(block, Table) else list(block)) for name, block in blocks.items()}


def test_relion5_pipeline_round_trips_byte_for_byte(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / RELION5 / "default_pipeline.star"
    pipeline = read_pipeline(source)
    assert pipeline.job_counter == 11 and len(pipeline.processes) == 8
    assert pipeline.process("Import/job001/").alias == "Import/Import1/"
    assert pipeline.process("MotionCorr/job002/").alias is None
    write_pipeline(tmp_path / "copy.star", pipeline)
    assert (tmp_path / "copy.star").read_bytes() == source.read_bytes()


def test_relion31_pipeline_is_read_with_labels(shared_data: Path) -> None:
    pipeline = read_pipeline(shared_data / "star/starfile/default_pipeline.star")
    first = pipeline.process("Import/job001/")
    assert (first.alias, first.type_label, first.status) == ("Import/movies/", "relion.import", Status.SUCCEEDED)
    assert pipeline.node("Import/job001/movies.star").type_label == "MicrographMovieGroupMetadata.star.relion"
    assert pipeline.upstream("Class2D/job008/")[-1] == "Import/job001/"


def test_our_files_have_relion5_blocks_and_labels(project: Project, vitreo: Cli, shared_data: Path) -> None:
    root = project.root
    make_files(root / "Movies", ["m1.tiff"])
    assert vitreo("run", "Import", "--fn_in_raw", "Movies/*.tiff", "--alias", "Import1", "--project", root)[0] == 0
    assert vitreo("run", "vitreo.test.consume", "--fn_in", "Import/job001/movies.star", "--project", root)[0] == 0
    relion = shared_data / RELION5
    assert layout(project.pipeline_path) == layout(relion / "default_pipeline.star")
    assert read_star_version(project.pipeline_path) == read_star_version(relion / "default_pipeline.star") == 50001
    ours, theirs = root / "Import/job001/job.star", relion / "Import/job001/job.star"
    assert layout(ours) == layout(theirs)
    assert read_star(ours)["job"] == read_star(theirs)["job"]  # relion.import.movies, not continue, not tomo
    assert set(read_star(ours)["joboptions_values"]["rlnJobOptionVariable"]) == set(
        read_star(theirs)["joboptions_values"]["rlnJobOptionVariable"])
    assert (root / "Import/job001/movies.star").read_text().startswith("\n# version 50001\n\ndata_optics\n")


def test_a_damaged_pipeline_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "default_pipeline.star"
    path.write_text("data_pipeline_processes\nloop_\n_rlnPipeLineProcessName\nImport/job001/\n")
    with pytest.raises(InputError, match="recover"):
        read_pipeline(path)


def test_status_reads_the_relion5_project(shared_data: Path, tmp_path: Path, vitreo: Cli) -> None:
    copy = tmp_path / "relion5"
    shutil.copytree(shared_data / RELION5, copy)
    code, out, err = vitreo("project", "status", "--project", copy)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["Import/job001/", "Import/Import1/", "relion.import.movies", "Succeeded"]
    assert "    out: Import/job001/movies.star" in lines
    assert sum(1 for line in lines if not line.startswith(" ")) == 8
    assert "    in:  AutoPick/job008/autopick.star" in out
    code, out, _ = vitreo("project", "status", "--json", "--project", copy)
    assert code == 0 and '"job_counter": 11' in out
    code, _, _ = vitreo("job", "flowchart", "Class2D/LoG", "-o", copy / "history.svg", "--project", copy)
    svg = (copy / "history.svg").read_text()
    assert code == 0 and svg.count("<rect") == 7
    for label in ("24 movies", "10 micrographs", "coords", "2374 particles", "Import/Import1"):
        assert f">{label}<" in svg
    original = (shared_data / RELION5 / "default_pipeline.star").read_bytes()
    assert (copy / "default_pipeline.star").read_bytes() == original  # reading changed nothing
