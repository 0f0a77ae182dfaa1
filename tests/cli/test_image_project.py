"""`vitreo image project`: projections match em.projector, the STAR file round-trips, CTF and noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.em.test_symmetry_alignment import symmetric_phantom
from vitreo.cli.main import app, main
from vitreo.em.ctf import CtfParams, ctf_2d
from vitreo.em.fourier import phase_shift
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.em.projector import Projector
from vitreo.em.symmetry import in_asymmetric_unit
from vitreo.io.image_refs import read_images
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import read_star

PIXEL = 5.0


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit):
        main(list(args))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


@pytest.fixture
def phantom_map(tmp_path: Path) -> Path:
    path = tmp_path / "map.mrc"
    write_mrc(path, symmetric_phantom("C1", 24, blobs=8).numpy().astype(np.float32), PIXEL)
    return path


def expected_projections(volume: np.ndarray, star: dict, ctf: bool = False) -> np.ndarray:
    """Projections rebuilt from the STAR file's angles, offsets and CTFs with em.projector directly."""
    particles = star["particles"]
    rotations = euler_degrees_to_matrix(particles["rlnAngleRot"], particles["rlnAngleTilt"], particles["rlnAnglePsi"])
    box = volume.shape[-1]
    slices = Projector(torch.from_numpy(volume)).project(rotations.float()).to(torch.complex128)
    origins = torch.from_numpy(np.stack([particles["rlnOriginXAngst"], particles["rlnOriginYAngst"]], 1) / PIXEL)
    slices = phase_shift(slices, -origins, (box, box))
    if ctf:
        params = CtfParams.from_values(defocus_u=particles["rlnDefocusU"], defocus_v=particles["rlnDefocusV"],
                                       defocus_angle=particles["rlnDefocusAngle"], voltage=300.0, cs=2.7,
                                       amplitude_contrast=0.1, dtype=torch.float64)
        slices = slices * ctf_2d(params, box, PIXEL)
    return torch.fft.irfft2(slices, s=(box, box)).numpy()


def test_uniform_projections_match_the_projector_and_round_trip(phantom_map: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    invoke("image", "project", str(phantom_map), "--nr-uniform", "30", "--max-offset", "2", "-o", "Proj")
    star = read_star("Proj/proj.star")
    assert star["optics"]["rlnImagePixelSize"][0] == PIXEL and star["optics"]["rlnImageSize"][0] == 24
    assert len(star["particles"]) == 30 and np.abs(star["particles"]["rlnOriginXAngst"]).max() > 1.0
    images = read_images(star["particles"]["rlnImageName"])  # names resolve from the project folder
    stack, pixel = read_mrc("Proj/proj.mrcs")
    assert pixel == pytest.approx(PIXEL) and np.array_equal(images, stack)
    volume, _ = read_mrc(phantom_map)
    expected = expected_projections(volume, star)
    assert np.abs(images - expected).max() < 1e-3 * np.abs(expected).max()
    # the rotations are spread over the sphere: mean viewing direction near 0
    directions = euler_degrees_to_matrix(star["particles"]["rlnAngleRot"], star["particles"]["rlnAngleTilt"], 0.0)[:, 2]
    assert float(directions.mean(0).norm()) < 0.4

    # --ang with the same file reproduces the images; --ctf applies each row's CTF
    invoke("image", "project", str(phantom_map), "--ang", "Proj/proj.star", "-o", "Again")
    assert np.allclose(read_mrc("Again/proj.mrcs")[0], stack, atol=1e-5)


def test_ctf_and_noise(phantom_map: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    invoke("image", "project", str(phantom_map), "--nr-uniform", "12", "--ctf", "-o", "Ctf")
    star = read_star("Ctf/proj.star")
    assert star["optics"]["rlnVoltage"][0] == 300.0
    defocus = star["particles"]["rlnDefocusU"]
    assert defocus.min() >= 10000 and defocus.max() <= 25000 and np.ptp(defocus) > 1000
    volume, _ = read_mrc(phantom_map)
    images = read_mrc("Ctf/proj.mrcs")[0]
    assert np.abs(images - expected_projections(volume, star, ctf=True)).max() < 1e-3 * np.abs(images).max()

    invoke("image", "project", str(phantom_map), "--ang", "Ctf/proj.star", "--ctf", "--add-noise", "--white-noise", "2.0",
           "-o", "Noisy")
    noise = read_mrc("Noisy/proj.mrcs")[0] - images
    assert noise.std() == pytest.approx(2.0, rel=0.05)


def test_healpix_grid_in_the_asymmetric_unit(phantom_map: Path, tmp_path: Path) -> None:
    invoke("image", "project", str(phantom_map), "--healpix-order", "1", "--sym", "C4", "-o", str(tmp_path / "H"))
    particles = read_star(tmp_path / "H" / "proj.star")["particles"]
    # order 1: 48 directions, a quarter of them in C4's asymmetric unit, times 12 psi angles of 30°
    assert len(particles) == 12 * 12
    rot, tilt = (torch.deg2rad(torch.from_numpy(particles[label])) for label in ("rlnAngleRot", "rlnAngleTilt"))
    assert bool(in_asymmetric_unit(rot, tilt, "C4").all())


def test_bad_input(phantom_map: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "nope.mrc" in one_line_error(capsys, "image", "project", str(tmp_path / "nope.mrc"), "--nr-uniform", "3",
                                        "-o", str(tmp_path))
    odd = tmp_path / "odd.mrc"
    write_mrc(odd, np.zeros((15, 15, 15), np.float32), PIXEL)
    assert "even" in one_line_error(capsys, "image", "project", str(odd), "--nr-uniform", "3", "-o", str(tmp_path))
    assert "Q7" in one_line_error(capsys, "image", "project", str(phantom_map), "--nr-uniform", "3", "--sym", "Q7",
                                  "-o", str(tmp_path))
    assert "exactly one" in one_line_error(capsys, "image", "project", str(phantom_map), "-o", str(tmp_path))
