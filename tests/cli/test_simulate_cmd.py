"""`vitreo simulate`: a dataset from the command line; bad input is one error line and leaves nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vitreo.io.star import read_star


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vitreo.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_simulate_with_overrides(tmp_path: Path) -> None:
    result = run_cli(
        "simulate", "-o", "data", "--preset", "tiny", "--seed", "2", "--n-micrographs", "1", "--micrographs-only",
        "--no-ctf", "--pixel-size", "5.0", "--micrograph-size", "384", "256", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "1 micrographs" in result.stdout and "Traceback" not in result.stderr
    assert "simulate: 1/1" in result.stderr  # progress on stderr
    assert (tmp_path / "data" / "Micrographs" / "mic001.mrc").is_file()
    config = read_star(tmp_path / "data" / "truth" / "particles.star")["optics"]
    assert config["rlnImagePixelSize"][0] == 5.0


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--preset", "enormous"], "unknown preset 'enormous'"),
        (["--preset", "tiny", "--structure", "model.pdb"], "model.pdb: not a readable PDB/mmCIF model"),
        (["--preset", "tiny", "--box", "32"], "smaller than the particle"),
        (["--preset", "tiny", "--dose-per-frame", "0"], "dose per frame must be positive"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, arguments: list[str], fragment: str) -> None:
    (tmp_path / "model.pdb").write_text("HEADER    NOT REALLY A MODEL\nATOM  garbage\n")
    result = run_cli("simulate", "-o", "out", *arguments, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pdb"]
