"""`vitreo image handle` (relion_image_handler): filters, mirror, rescale, symmetrise, arithmetic,
statistics and averaging, checked numerically; `vitreo image align-symmetry` end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli.test_image_project import invoke, one_line_error
from tests.em.test_symmetry_alignment import correlation, symmetric_phantom
from vitreo.em.fourier import power_spectrum
from vitreo.em.geometry import random_rotations
from vitreo.em.image_ops import centre_of_mass
from vitreo.em.symmetry import symmetrise_volume
from vitreo.io.mrc import read_mrc, write_mrc
from vitreo.io.star import read_star

PIXEL = 4.0


@pytest.fixture
def volume_path(tmp_path: Path) -> Path:
    path = tmp_path / "map.mrc"
    write_mrc(path, symmetric_phantom("C1", 32, blobs=8, seed=2).numpy().astype(np.float32), PIXEL)
    return path


@pytest.fixture
def stack_path(tmp_path: Path) -> Path:
    path = tmp_path / "stack.mrcs"
    rng = np.random.default_rng(0)
    write_mrc(path, rng.normal(1.0, 2.0, size=(6, 24, 24)).astype(np.float32), PIXEL, is_stack=True)
    return path


def test_lowpass_and_highpass_remove_power(volume_path: Path, tmp_path: Path) -> None:
    invoke("image", "handle", "--i", str(volume_path), "--lowpass", "16", "--o", str(tmp_path / "low.mrc"))
    invoke("image", "handle", "--i", str(volume_path), "--highpass", "16", "--o", str(tmp_path / "high.mrc"))
    original = torch.from_numpy(read_mrc(volume_path)[0]).double()
    low, pixel = read_mrc(tmp_path / "low.mrc")
    high = read_mrc(tmp_path / "high.mrc")[0]
    assert pixel == pytest.approx(PIXEL)
    before = power_spectrum(original, 3)
    after_low = power_spectrum(torch.from_numpy(low).double(), 3)
    after_high = power_spectrum(torch.from_numpy(high).double(), 3)
    cutoff = 32 * PIXEL / 16  # shell 8; the raised-cosine edge spans shells 7-9
    assert (after_low[10:] < 1e-8 * before[10:] + 1e-12).all()
    assert torch.allclose(after_low[1:6], before[1:6], rtol=1e-4)
    assert (after_high[1:int(cutoff) - 2] < 1e-8 * before[1:int(cutoff) - 2]).all()
    assert torch.allclose(after_high[10:], before[10:], rtol=1e-4)
    assert np.allclose(low + high, original.numpy(), atol=1e-4)  # the two responses add up to one


def test_flip_x_mirrors_and_undoes_itself(volume_path: Path, tmp_path: Path) -> None:
    invoke("image", "handle", "--i", str(volume_path), "--flip-x", "--o", str(tmp_path / "flipped.mrc"))
    invoke("image", "handle", "--i", str(tmp_path / "flipped.mrc"), "--flipX", "--o", str(tmp_path / "back.mrc"))
    original = read_mrc(volume_path)[0]
    flipped = read_mrc(tmp_path / "flipped.mrc")[0]
    assert np.array_equal(flipped[:, :, 1:], original[:, :, :0:-1])  # x -> N − x about the centre N//2
    assert np.array_equal(read_mrc(tmp_path / "back.mrc")[0], original)
    com = centre_of_mass(torch.from_numpy(original).double(), 3)
    mirrored = centre_of_mass(torch.from_numpy(flipped).double(), 3)
    assert torch.allclose(mirrored, com * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64), atol=1e-3)


def test_rescale_keeps_the_shape_in_angstrom(volume_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "rescaled.mrc"
    invoke("image", "handle", "--i", str(volume_path), "--rescale_angpix", "2.5", "--o", str(out))
    rescaled, pixel = read_mrc(out)
    assert rescaled.shape == (50, 50, 50)  # round(32 · 4 / 2.5) = 51, made even as RELION
    assert pixel == pytest.approx(32 * PIXEL / 50, rel=1e-5)  # the true pixel size of the resampled map
    original = torch.from_numpy(read_mrc(volume_path)[0]).double()
    com_before = centre_of_mass(original, 3) * PIXEL
    com_after = centre_of_mass(torch.from_numpy(rescaled).double(), 3) * pixel
    assert torch.allclose(com_before, com_after, atol=0.05)
    assert float(rescaled.sum()) * pixel**3 == pytest.approx(float(original.sum()) * PIXEL**3, rel=1e-4)
    invoke("image", "handle", "--i", str(out), "--new_box", "40", "--o", str(tmp_path / "boxed.mrc"))
    boxed = read_mrc(tmp_path / "boxed.mrc")[0]
    assert boxed.shape == (40, 40, 40) and np.array_equal(boxed, rescaled[5:45, 5:45, 5:45])


def test_symmetrise_and_arithmetic(volume_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "sym.mrc"
    invoke("image", "handle", "--i", str(volume_path), "--sym", "C3", "--o", str(out))
    symmetric = torch.from_numpy(read_mrc(out)[0]).double()
    assert correlation(symmetric, symmetrise_volume(symmetric, "C3")) > 0.999
    assert correlation(symmetric, torch.from_numpy(read_mrc(volume_path)[0]).double()) < 0.9
    invoke("image", "handle", "--i", str(volume_path), "--subtract", str(out), "--o", str(tmp_path / "diff.mrc"))
    invoke("image", "handle", "--i", str(volume_path), "--multiply", str(out), "--invert-contrast",
           "--o", str(tmp_path / "product.mrc"))
    original = read_mrc(volume_path)[0]
    assert np.allclose(read_mrc(tmp_path / "diff.mrc")[0], original - symmetric.numpy(), atol=1e-5)
    assert np.allclose(read_mrc(tmp_path / "product.mrc")[0], -original * symmetric.numpy(), atol=1e-5)


def test_stats_and_average_of_a_stack(stack_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = read_mrc(stack_path)[0]
    lines = invoke("image", "handle", "--i", str(stack_path), "--stats").splitlines()
    assert len(lines) == 6 and lines[2].startswith(f"000003@{stack_path} : (x,y,z,n)= 24 x 24 x 1 x 1")
    values = dict(zip(lines[2].split()[-8::2], map(float, lines[2].split()[-7::2])))
    image = stack[2].astype(np.float64)
    assert values == pytest.approx({"avg=": image.mean(), "stddev=": image.std(), "minval=": image.min(),
                                    "maxval=": image.max()}, rel=1e-5)
    invoke("image", "handle", "--i", str(stack_path), "--average", "--o", str(tmp_path / "mean.mrc"))
    mean, pixel = read_mrc(tmp_path / "mean.mrc")
    assert mean.shape == (24, 24) and pixel == pytest.approx(PIXEL)
    assert np.allclose(mean, stack.mean(0), atol=1e-6)

    # a STAR file of images: average, and per-image filtering into a new stack + STAR file
    monkeypatch.chdir(tmp_path)
    star = tmp_path / "images.star"
    names = "\n".join(f"{i + 1:06d}@stack.mrcs" for i in range(6))
    star.write_text("data_\nloop_\n_rlnImageName\n" + names + "\n")
    assert invoke("image", "handle", "--i", "images.star", "--stats").splitlines()[5].startswith("000006@stack.mrcs : ")
    invoke("image", "handle", "--i", "images.star", "--average", "--angpix", str(PIXEL), "--o", "star_mean.mrc")
    assert np.allclose(read_mrc("star_mean.mrc")[0], stack.mean(0), atol=1e-6)
    invoke("image", "handle", "--i", "images.star", "--angpix", str(PIXEL), "--lowpass", "20", "--o", "Out/low.mrcs")
    written = read_star("Out/low.star")
    table = next(iter(written.values()))
    assert table["rlnImageName"][5] == "000006@Out/low.mrcs"
    assert read_mrc("Out/low.mrcs")[0].shape == (6, 24, 24)


def test_handle_bad_input(volume_path: Path, stack_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unset = tmp_path / "nopixel.mrc"
    write_mrc(unset, np.zeros((8, 8, 8), np.float32), 0.0)
    assert "--angpix" in one_line_error(capsys, "image", "handle", "--i", str(unset), "--lowpass", "10", "--o", "x.mrc")
    assert "3D map" in one_line_error(capsys, "image", "handle", "--i", str(stack_path), "--sym", "C2",
                                      "--o", str(tmp_path / "x.mrcs"))
    assert "X9" in one_line_error(capsys, "image", "handle", "--i", str(volume_path), "--sym", "X9", "--o", "x.mrc")
    small = tmp_path / "small.mrc"
    write_mrc(small, np.zeros((8, 8, 8), np.float32), PIXEL)
    assert "sizes must match" in one_line_error(capsys, "image", "handle", "--i", str(volume_path), "--add", str(small),
                                                "--o", str(tmp_path / "y.mrc"))
    assert "missing.mrc" in one_line_error(capsys, "image", "handle", "--i", str(tmp_path / "missing.mrc"), "--stats")
    aligned = str(tmp_path / "aligned.mrc")
    assert "X3" in one_line_error(capsys, "image", "align-symmetry", str(volume_path), "--sym", "X3", "-o", aligned)
    assert "3D map" in one_line_error(capsys, "image", "align-symmetry", str(stack_path), "--sym", "C2", "-o", aligned)


def test_align_symmetry_command(tmp_path: Path) -> None:
    q = random_rotations(1, generator=torch.Generator().manual_seed(11))[0]
    phantom = symmetric_phantom("C4", 32, q, seed=11)
    write_mrc(tmp_path / "turned.mrc", phantom.numpy().astype(np.float32), PIXEL)
    output = invoke("image", "align-symmetry", str(tmp_path / "turned.mrc"), "--sym", "C4", "--box-size", "32",
                    "-o", str(tmp_path / "aligned.mrc"))
    assert "rotation applied: rot=" in output
    aligned, pixel = read_mrc(tmp_path / "aligned.mrc")
    assert pixel == pytest.approx(PIXEL)
    aligned_t = torch.from_numpy(aligned).double()
    assert correlation(aligned_t, symmetrise_volume(aligned_t, "C4")) > 0.995
    assert correlation(phantom, symmetrise_volume(phantom, "C4")) < 0.97
    assert math.isfinite(float(aligned.sum()))
