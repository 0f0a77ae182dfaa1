"""The `vitreo` command line: help, version, star print/plot/convert, image info, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from vitreo import __version__


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `vitreo ARGS` in a child process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "vitreo.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("star", "image"):
        assert command in result.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"vitreo {__version__}"


def test_image_info_betagal(shared_data: Path) -> None:
    result = run_cli("image", "info", str(shared_data / "maps" / "betaGal.mrc"))
    assert result.returncode == 0, result.stderr
    assert "100 x 100 x 100" in result.stdout
    assert "3.54 Å" in result.stdout
    data = mrcfile.read(shared_data / "maps" / "betaGal.mrc")
    mean_field = next(w for w in result.stdout.split("mean ")[1:])
    assert float(mean_field.split()[0]) == pytest.approx(float(data.mean()), rel=1e-4)


def test_image_info_stack(shared_data: Path) -> None:
    stack = shared_data / "images" / "cryojax" / "trpv1_small_stack.mrcs"
    with mrcfile.mmap(stack, permissive=True) as mrc:
        n, ny, nx = mrc.data.shape
    result = run_cli("image", "info", str(stack))
    assert result.returncode == 0, result.stderr
    assert f"{nx} x {ny} x {n}" in result.stdout
    assert "stack" in result.stdout


def test_image_info_truncated(tmp_path: Path) -> None:
    path = tmp_path / "broken.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((16, 32, 32), np.float32))
    path.write_bytes(path.read_bytes()[:-5000])
    assert_one_line_error(run_cli("image", "info", str(path)), "broken.mrc")


def test_image_info_missing_file(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("image", "info", str(tmp_path / "nope.mrc")), "nope.mrc")


def test_star_print_columns(shared_data: Path) -> None:
    star = shared_data / "star" / "relion5_betagal_sppractice" / "CtfFind" / "job005" / "micrographs_ctf.star"
    result = run_cli("star", "print", str(star), "data_micrographs", "rlnMicrographName", "rlnDefocusU")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows and all(len(row) == 2 for row in rows)
    assert rows[0][0].endswith(".mrc")
    assert float(rows[0][1]) > 1000.0  # defocus in Å


def test_star_print_missing_label(shared_data: Path) -> None:
    star = shared_data / "star" / "relion5_betagal_sppractice" / "CtfFind" / "job005" / "micrographs_ctf.star"
    result = run_cli("star", "print", str(star), "micrographs", "rlnNoSuchLabel")
    assert_one_line_error(result, "micrographs_ctf.star", "rlnNoSuchLabel")


def test_star_print_bad_number(tmp_path: Path) -> None:
    star = tmp_path / "bad.star"
    star.write_text(
        "data_particles\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10.0 20.0\nabc 30.0\n"
    )
    result = run_cli("star", "print", str(star), "particles", "rlnCoordinateX")
    assert_one_line_error(result, "bad.star", "line 7")


def test_star_print_short_row(tmp_path: Path) -> None:
    star = tmp_path / "short.star"
    star.write_text("data_particles\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10.0 20.0\n30.0\n")
    assert_one_line_error(run_cli("star", "print", str(star), "particles", "rlnCoordinateX"), "short.star")


def test_star_plot(shared_data: Path, tmp_path: Path) -> None:
    star = shared_data / "star" / "relion5_betagal_sppractice" / "Class2D" / "job010" / "run_it025_model.star"
    out = tmp_path / "plot.png"
    result = run_cli("star", "plot", str(star), "model_classes", "index", "rlnClassDistribution", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_star_convert_pre31(shared_data: Path, tmp_path: Path) -> None:
    from vitreo.io.star import read_star

    out = tmp_path / "converted.star"
    result = run_cli("star", "convert", str(shared_data / "star" / "cryodrgn" / "empiar_10076_7.star"), str(out))
    assert result.returncode == 0, result.stderr
    blocks = read_star(out)
    assert "optics" in blocks and "particles" in blocks
    assert out.read_text().lstrip().startswith("# version 30001")


def test_star_convert_refuses_overwrite(tmp_path: Path) -> None:
    star = tmp_path / "in.star"
    star.write_text("data_particles\n\nloop_\n_rlnCoordinateX #1\n1.0\n")
    assert_one_line_error(run_cli("star", "convert", str(star), str(star)), "in.star")
    assert star.read_text().endswith("1.0\n")
