"""Coordinate files: naming, RELION STAR, EMAN .box, xmipp 2.4 .pos, ximdisp .coords."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitreo.io.coords import centres, coordinate_file_for, find_coordinate_files, read_coordinates, write_coordinates
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star

PROJECT = "star/relion5_betagal_sppractice"


def test_relion_manualpick_and_autopick_files(shared_data: Path) -> None:
    movies = shared_data / PROJECT
    manual = read_coordinates(movies / "ManualPick/job006/Movies/20170629_00021_frameImage_manualpick.star")
    assert len(manual) == 13
    assert centres(manual)[0].tolist() == [2207.0, 547.0]
    assert manual.labels[:2] == ["rlnCoordinateX", "rlnCoordinateY"]
    assert manual["rlnParticleSelectionType"].tolist() == [2] * 13
    auto = read_coordinates(movies / "AutoPick/job008/Movies/20170629_00021_frameImage_autopick.star")
    assert len(auto) == 242 and centres(auto).shape == (242, 2)
    assert centres(auto)[0] == pytest.approx([1614.217657, 112.882354])
    assert auto["rlnAutopickFigureOfMerit"][0] == pytest.approx(0.163126)
    assert auto["rlnClassNumber"].dtype == np.int64 and set(auto.labels) >= {"rlnAnglePsi"}


def test_coordinate_file_names_match_relions_index(shared_data: Path) -> None:
    tutorial = coordinate_file_for("Micrographs/mic001.mrc", "_manualpick.star")
    assert tutorial == Path("Micrographs/mic001_manualpick.star")
    for job, suffix in (("ManualPick/job006", "_manualpick.star"), ("AutoPick/job008", "_autopick.star")):
        index = read_star(shared_data / PROJECT / job / f"{suffix[1:-5]}.star")["coordinate_files"]
        for micrograph, coordinates in zip(index["rlnMicrographName"], index["rlnMicrographCoordinates"]):
            assert coordinate_file_for(micrograph, suffix, job) == Path(coordinates)
    micrographs = [f"MotionCorr/job002/Movies/20170629_000{n}_frameImage.mrc" for n in (21, 22)]
    found = find_coordinate_files(micrographs, shared_data / PROJECT / "AutoPick/job008", "_autopick.star")
    assert list(found) == [micrographs[0]] and found[micrographs[0]].is_file()


def test_box_files_hold_corners(tmp_path: Path) -> None:
    path = tmp_path / "mic_pick.box"
    path.write_text("100\t200\t64\t64\n\n 10.5 20 101 101 \n")
    table = read_coordinates(path)
    assert centres(table).tolist() == [[132.0, 232.0], [61.0, 70.5]]
    out = tmp_path / "out.box"
    write_coordinates(out, Table({"rlnCoordinateX": [132.0, 500.0], "rlnCoordinateY": [232.0, 40.0]}), box_size=64)
    assert out.read_text() == "100\t200\t64\t64\n468\t8\t64\t64\n"
    assert centres(read_coordinates(out)).tolist() == [[132.0, 232.0], [500.0, 40.0]]
    with pytest.raises(ValueError, match="box_size"):
        write_coordinates(out, table)


def test_star_coordinates_round_trip(tmp_path: Path) -> None:
    table = Table({"rlnCoordinateX": [10.5, 20.0], "rlnCoordinateY": [1.0, 2.0],
                   "rlnAutopickFigureOfMerit": [0.5, -0.25], "rlnClassNumber": [0, 1]})
    path = tmp_path / "mic_autopick.star"
    write_coordinates(path, table)
    assert path.read_text().startswith("\n# version 30001\n\ndata_\n\nloop_ \n_rlnCoordinateX #1 \n")
    assert read_coordinates(path).equals(table)
    empty = tmp_path / "none_autopick.star"
    empty.write_text("")
    assert len(read_coordinates(empty)) == 0


def test_xmipp_pos_and_ximdisp_coords_and_plain_text(tmp_path: Path) -> None:
    pos = tmp_path / "mic.pos"
    pos.write_text("# <X position> <Y position>\n  1024   512\n# another comment\n   300   400\n")
    assert centres(read_coordinates(pos)).tolist() == [[1024.0, 512.0], [300.0, 400.0]]
    coords = tmp_path / "mic.coords"
    coords.write_text("x         y      density\n  100  200  0.75\n  300  400  0.5\n")
    table = read_coordinates(coords)
    assert table.labels == ["rlnCoordinateX", "rlnCoordinateY"] and len(table) == 2
    txt = tmp_path / "tomo.txt"
    txt.write_text("10 20 30\n40 50 60\n")
    assert read_coordinates(txt)["rlnCoordinateZ"].tolist() == [30.0, 60.0]


@pytest.mark.parametrize("name, text, line", [
    ("a.box", "1 2 3 4\n1 2 3\n", 2),
    ("a.box", "1 2 3 4\nx 2 3 4\n", 2),
    ("a.pos", "# header\n1 2\n3 y\n", 3),
    ("a.coords", "x y density\n1\n", 2),
])
def test_bad_coordinate_lines(tmp_path: Path, name: str, text: str, line: int) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=rf"{name}, line {line}: "):
        read_coordinates(path)


def test_missing_files_and_wrong_star(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_coordinates(tmp_path / "gone.box")
    star = tmp_path / "wrong.star"
    star.write_text("data_\nloop_\n_rlnMicrographName\nmic.mrc\n")
    with pytest.raises(InputError, match="rlnCoordinateX"):
        read_coordinates(star)
