"""RELION image names: parsing, formatting, resolving and batch reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitreo.io import image_refs
from vitreo.io.errors import InputError
from vitreo.io.image_refs import (
    NO_INDEX,
    ImageRef,
    format_image_name,
    format_image_names,
    parse_image_name,
    parse_image_names,
    read_images,
    resolve,
)
from vitreo.io.mrc import read_mrc, write_mrc

EXTRACT = "Extract/job009/Movies/20170629_00021_frameImage.mrcs"


def test_parse_and_format_one() -> None:
    ref = parse_image_name("000012@Extract/job005/Movies/mic001.mrcs")
    assert ref == ImageRef(11, "Extract/job005/Movies/mic001.mrcs")
    assert str(ref) == "000012@Extract/job005/Movies/mic001.mrcs"
    assert parse_image_name("12@a.mrcs").index == 11  # unpadded numbers are fine too
    assert parse_image_name("MotionCorr/job002/mic.mrc") == ImageRef(None, "MotionCorr/job002/mic.mrc")
    assert format_image_name(0, "s.mrcs") == "000001@s.mrcs"
    assert format_image_name(1_234_566, "s.mrcs") == "1234567@s.mrcs"  # wider than six digits when needed
    assert format_image_name(None, "m.mrc") == "m.mrc"


def test_parse_many_round_trip() -> None:
    names = np.array([f"{i % 7 + 1:06d}@Extract/job005/Movies/mic{i // 7:03d}.mrcs" for i in range(10_000)], dtype=object)
    names[5] = "/abs/single.mrc"
    indices, paths = parse_image_names(names)
    assert indices.dtype == np.int64 and indices[5] == NO_INDEX
    assert indices[0] == 0 and indices[6] == 6 and paths[7] == "Extract/job005/Movies/mic001.mrcs"
    assert (format_image_names(indices, paths) == names.astype(str)).all()


@pytest.mark.parametrize(("name", "problem"), [("x@a.mrcs", "positive whole number"), ("0@a.mrcs", "start at 1"), ("3@", "no file")])
def test_bad_names(name: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as err:
        parse_image_names(["000001@ok.mrcs", name])
    assert name in str(err.value)


def test_resolve(tmp_path: Path) -> None:
    assert resolve("Extract/job001/a.mrcs", tmp_path) == tmp_path / "Extract/job001/a.mrcs"
    assert resolve("/data/a.mrcs", tmp_path) == Path("/data/a.mrcs")


def _project(tmp_path: Path) -> dict[str, np.ndarray]:
    """Two stacks and a single image, each image filled with a unique value."""
    files = {
        "Extract/job001/a.mrcs": np.arange(5, dtype=np.float32)[:, None, None] + np.zeros((5, 4, 6), np.float32),
        "Extract/job001/b.mrcs": 100 + np.arange(3, dtype=np.float32)[:, None, None] + np.zeros((3, 4, 6), np.float32),
        "Extract/job001/c.mrc": np.full((4, 6), 500.0, np.float32),
    }
    for name, data in files.items():
        write_mrc(tmp_path / name, data, 1.0, is_stack=name.endswith(".mrcs"))
    return files


def test_read_images_in_input_order_one_open_per_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path)
    opened: list[str] = []
    real_open = image_refs.open_stack

    def counting_open(path):  # type: ignore[no-untyped-def]
        opened.append(Path(path).name)
        return real_open(path)

    monkeypatch.setattr(image_refs, "open_stack", counting_open)
    names = [
        "000003@Extract/job001/b.mrcs",
        "000005@Extract/job001/a.mrcs",
        "Extract/job001/c.mrc",
        "000001@Extract/job001/a.mrcs",
        "000001@Extract/job001/b.mrcs",
        "000005@Extract/job001/a.mrcs",
        f"000002@{tmp_path}/Extract/job001/a.mrcs",  # absolute path: a different name, read as given
    ]
    images = read_images(names, project_dir=tmp_path)
    assert images.shape == (7, 4, 6) and images.dtype == np.float32
    assert images[:, 0, 0].tolist() == [102, 4, 500, 0, 100, 4, 1]
    assert sorted(opened) == ["a.mrcs", "a.mrcs", "b.mrcs", "c.mrc"]  # a.mrcs twice: relative and absolute names


def test_read_images_real_stack(shared_data: Path) -> None:
    project = shared_data / "images/relion5_betagal_sppractice"
    stack, _ = read_mrc(project / EXTRACT)
    images = read_images([f"000242@{EXTRACT}", f"000001@{EXTRACT}", f"000100@{EXTRACT}"], project_dir=project)
    np.testing.assert_array_equal(images, stack[[241, 0, 99]])
    with pytest.raises(InputError) as err:
        read_images([f"000243@{EXTRACT}"], project_dir=project)
    assert EXTRACT in str(err.value) and "image 243" in str(err.value) and "242 images" in str(err.value)


def test_read_images_errors(tmp_path: Path) -> None:
    _project(tmp_path)
    with pytest.raises(InputError) as err:
        read_images(["000002@Extract/job001/missing.mrcs"], project_dir=tmp_path)
    assert "missing.mrcs" in str(err.value) and "file not found" in str(err.value) and "000002@" in str(err.value)
    with pytest.raises(InputError, match="no index, but the file holds 5 images"):
        read_images(["Extract/job001/a.mrcs"], project_dir=tmp_path)
    write_mrc(tmp_path / "other.mrcs", np.zeros((2, 8, 8)), 1.0, is_stack=True)
    with pytest.raises(InputError, match="8x8 pixels, others are 6x4"):
        read_images(["000001@Extract/job001/a.mrcs", "000001@other.mrcs"], project_dir=tmp_path)
    assert read_images([], project_dir=tmp_path).shape == (0, 0, 0)
