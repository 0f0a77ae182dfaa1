"""The pipeline commands as a user runs them: `vitreo project`, `run`, `schedule`, `job`, `trash`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pipeline.helpers import make_files
from vitreo.cli.job_args import parse_job_args
from vitreo.cli.main import main
from vitreo.pipeline.pipeline_star import read_pipeline

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def vitreo(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run `vitreo ARGS` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setenv("VITREO_IMPORT_PROBE_SECONDS", "0.05")

    def run(*args: str | Path) -> tuple[int, str, str]:
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_two_shells_running_at_once_share_nothing(tmp_path: Path, vitreo: Cli) -> None:
    assert vitreo("project", "init", tmp_path, "--yes")[0] == 0
    make_files(tmp_path / "Movies", ["m1.tiff", "m2.tiff"])
    env = {**os.environ, "VITREO_IMPORT_PROBE_SECONDS": "0.05"}
    shells = [subprocess.Popen([sys.executable, "-m", "vitreo", "run", "Import", "--fn_in_raw", "Movies/*.tiff"],
                               cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for _ in range(2)]
    results = [(shell.returncode, out, err) for shell in shells for out, err in [shell.communicate(timeout=300)]]
    assert all(code == 0 for code, _, _ in results), results
    assert sorted(out.split()[0] for _, out, _ in results) == ["Import/job001/", "Import/job002/"]
    pipeline = read_pipeline(tmp_path / "default_pipeline.star")
    assert [p.status.value for p in pipeline.processes] == ["Succeeded"] * 2 and pipeline.job_counter == 3
    assert len(pipeline.nodes) == 2 and len(pipeline.output_edges) == 2


def test_init_refuses_a_folder_inside_a_project_and_asks_without_yes(tmp_path: Path, vitreo: Cli) -> None:
    assert vitreo("project", "init", tmp_path, "--yes")[0] == 0
    code, _, err = vitreo("project", "init", tmp_path / "sub", "--yes")
    assert code == 1 and "inside the project" in err and len(err.strip().splitlines()) == 1
    code, _, err = vitreo("project", "init", tmp_path / "elsewhere")
    assert code == 1 and "--yes" in err
    code, _, err = vitreo("project", "status", "--project", tmp_path / "elsewhere")
    assert code == 1 and "not a project directory" in err


@pytest.mark.parametrize("args, message", [
    (("run", "Import", "--angpix"), "must be a number"),
    (("run", "Import", "--no_such_option", "1"), "no option --no_such_option"),
    (("run", "Nonsense"), "unknown job type"),
    (("job", "delete", "job099"), "no job 'job099'"),
])
def test_errors_are_one_line(tmp_path: Path, vitreo: Cli, args: tuple[str, ...], message: str) -> None:
    assert vitreo("project", "init", tmp_path, "--yes")[0] == 0
    code, _, err = vitreo(*args, "--project", tmp_path)
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_help_lists_job_types_and_their_parameters(vitreo: Cli) -> None:
    code, out, _ = vitreo("run", "--help")
    assert code == 0 and "Import" in out and "relion.import" in out
    code, out, _ = vitreo("run", "Import", "--help")
    assert code == 0 and "--fn_in_raw 'Micrographs/*.tif'" in out and "[Running]" in out
    code, out, _ = vitreo("job", "types")
    assert code == 0 and out.startswith("Import")


def test_schedule_from_a_relion_job_star(tmp_path: Path, shared_data: Path, vitreo: Cli) -> None:
    assert vitreo("project", "init", tmp_path, "--yes")[0] == 0
    job_star = shared_data / "star/relion5_betagal_sppractice/Import/job001/job.star"
    code, out, err = vitreo("schedule", "--from", job_star, "--fn_in_raw", "Raw/*.tiff", "--project", tmp_path)
    assert code == 0 and out.strip() == "Import/job001/ Scheduled", err
    text = (tmp_path / "Import/job001/job.star").read_text()
    assert "Raw/*.tiff" in text and "0.885" in text and "mtf_k2_200kV.star" in text


def test_job_parameters_on_the_command_line() -> None:
    assert parse_job_args(["--angpix", "0.885", "--do_raw", "--fn_in_raw=Movies/*.tiff", "--last_frame", "-1",
                           "--is_multiframe"]) == {"angpix": "0.885", "do_raw": "Yes", "fn_in_raw": "Movies/*.tiff",
                                                   "last_frame": "-1", "is_multiframe": "Yes"}
    with pytest.raises(ValueError, match="expected --name value"):
        parse_job_args(["angpix", "1"])
