"""STAR reading and writing: RELION's exact text, every real fixture, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from vitreo.io import star
from vitreo.io.errors import InputError
from vitreo.io.star import (
    Table,
    blocks_equal,
    escape_string,
    find_block,
    float_text,
    format_column,
    read_star,
    read_star_version,
    tokenize,
    write_star,
)

FIXTURES = sorted(p.relative_to(SHARED_DATA).as_posix() for p in SHARED_DATA.glob("**/*.star")) \
    if SHARED_DATA.is_dir() else []
# Written by RELION itself and not edited since: our writer must reproduce them byte for byte.
RELION_WRITTEN = [f for f in FIXTURES if f.startswith(("star/relion5_betagal_sppractice/", "star/simplecryoem/"))
                  and not f.endswith(("run_it025_optimiser.star", "mtf_k2_200kV.star"))] + [
    "star/relion_schemes/proc/select_parts/job.star", "star/starfile/relion_tutorial/run_it025_sampling_3D.star"]
# Values are written with RELION's precision (6 decimals, 5 when negative, 7 significant digits in
# exponent form), so a first rewrite of a file with more digits agrees to this tolerance.
TEXT_RTOL, TEXT_ATOL = 1e-5, 6e-6


def _write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


# ----------------------------------------------------------------------------- real files


@pytest.mark.parametrize("name", FIXTURES)
def test_every_fixture_round_trips(shared_data: Path, tmp_path: Path, name: str) -> None:
    source = shared_data / name
    blocks = read_star(source)
    assert blocks, "every fixture holds at least one block"
    first = tmp_path / "first.star"
    write_star(first, blocks, version=read_star_version(source))
    again = read_star(first)
    assert blocks_equal(blocks, again, rtol=TEXT_RTOL, atol=TEXT_ATOL)
    second = tmp_path / "second.star"
    write_star(second, again, version=read_star_version(first))
    assert second.read_bytes() == first.read_bytes()
    assert blocks_equal(again, read_star(second))


@pytest.mark.parametrize("name", RELION_WRITTEN)
def test_relion_written_files_are_reproduced_byte_for_byte(shared_data: Path, tmp_path: Path, name: str) -> None:
    source = shared_data / name
    out = tmp_path / "out.star"
    write_star(out, read_star(source), version=read_star_version(source))
    assert out.read_bytes() == source.read_bytes()


def test_known_values_of_a_relion5_particles_file(shared_data: Path) -> None:
    blocks = read_star(shared_data / "star/relion5_betagal_sppractice/Extract/job009/particles.star")
    assert list(blocks) == ["optics", "particles"]
    optics, particles = blocks["optics"], blocks["particles"]
    assert optics["rlnOpticsGroupName"].tolist() == ["opticsGroup1"]
    assert optics["rlnImageSize"].dtype == np.int64 and optics["rlnImageSize"][0] == 64
    assert optics["rlnImagePixelSize"][0] == pytest.approx(3.54)
    assert optics["rlnCtfDataAreCtfPremultiplied"].dtype == bool and not optics["rlnCtfDataAreCtfPremultiplied"][0]
    assert len(particles) == 2374
    assert particles["rlnImageName"][0] == "000001@Extract/job009/Movies/20170629_00021_frameImage.mrcs"
    assert particles["rlnCoordinateX"][0] == pytest.approx(1614.217657)
    assert particles["rlnDefocusAngle"][0] == pytest.approx(-14.84966)
    assert particles["rlnOpticsGroup"].dtype == np.int64


def test_key_value_blocks_nan_inf_and_versions(shared_data: Path) -> None:
    model = shared_data / "star/relion5_betagal_sppractice/Class2D/job010/run_it025_model.star"
    blocks = read_star(model)
    general = blocks["model_general"]
    assert general["rlnNrClasses"] == 50 and isinstance(general["rlnNrClasses"], int)
    assert general["rlnIsHelix"] is False
    assert general["rlnLogLikelihood"] == pytest.approx(1.301548e07)
    classes = blocks["model_classes"]
    assert math.isinf(classes["rlnEstimatedResolution"][24])
    completeness = classes["rlnOverallFourierCompleteness"][24]
    assert math.isnan(completeness) and math.copysign(1, completeness) < 0  # RELION wrote "-nan"
    assert read_star_version(model) == 50001
    assert read_star_version(shared_data / "star/cryodrgn/relion31.star") == 30001
    assert read_star_version(shared_data / "star/cryodrgn/empiar_10076_7.star") is None


@pytest.mark.parametrize("name", [
    "star/relion5_betagal_sppractice/Extract/job009/particles.star",
    "star/relion5_betagal_sppractice/Class2D/job010/run_it025_model.star",
    "star/relion5_betagal_sppractice/default_pipeline.star",
    "star/relion5_betagal_sppractice/AutoPick/job008/job.star",
    "star/cryodrgn/relion5.star",
    "mtf/mtf_k3_CDS_300kV_FL1.star",
])
def test_reader_agrees_with_starfile(shared_data: Path, name: str) -> None:
    starfile = pytest.importorskip("starfile")
    ours = read_star(shared_data / name)
    theirs = starfile.read(shared_data / name, always_dict=True)
    assert list(ours) == list(theirs)
    for block_name, block in ours.items():
        other = theirs[block_name]
        if isinstance(block, Table):
            assert block.labels == list(other.columns)
            for label in block.labels:
                mine, ref = block[label], other[label].to_numpy()
                if mine.dtype.kind in "fi":
                    np.testing.assert_allclose(mine, ref.astype(np.float64), rtol=1e-12, equal_nan=True)
                elif mine.dtype == bool:
                    assert mine.tolist() == [bool(v) for v in ref]
                else:
                    assert mine.tolist() == ["" if v == '""' else str(v) for v in ref]
        else:
            assert list(block) == list(other)
            for key, value in block.items():
                ref = other[key]
                if isinstance(value, float):
                    assert value == pytest.approx(float(ref), nan_ok=True)
                elif isinstance(value, bool):
                    assert value == bool(ref)
                else:
                    assert str(value) == ("" if ref == '""' else str(ref))


# ----------------------------------------------------------------------------- text form


def test_writer_produces_relions_exact_text(tmp_path: Path) -> None:
    table = Table({
        "rlnImageName": ["1@a.mrcs", "has space", "", "'quoted", "_under", "x"],
        "rlnDefocusU": [12345.678901, -2.5e-07, 1e6, -0.0, float("nan"), -float("inf")],
        "rlnClassNumber": [1, -2, 300000, 0, 5, 6],
        "rlnCtfDataAreCtfPremultiplied": [False, True, False, False, True, False],
    })
    general = {"rlnPipeLineJobCounter": 11, "rlnJobTypeLabel": "relion.class2d", "rlnVoltage": 300}
    out = tmp_path / "t.star"
    write_star(out, {"general": general, "particles": table})
    assert out.read_text() == (
        "\n# version 30001\n\ndata_general\n\n"
        "_rlnPipeLineJobCounter                      11\n"
        "_rlnJobTypeLabel                  relion.class2d\n"
        "_rlnVoltage                         300.000000\n"
        " \n"
        "\n# version 30001\n\ndata_particles\n\nloop_ \n"
        "_rlnImageName #1 \n_rlnDefocusU #2 \n_rlnClassNumber #3 \n_rlnCtfDataAreCtfPremultiplied #4 \n"
        "  1@a.mrcs 12345.678901            1            0 \n"
        '"has space" -2.50000e-07           -2            1 \n'
        '        "" 1.000000e+06       300000            0 \n'
        " \"'quoted\"    -0.000000            0            0 \n"
        '  "_under"          nan            5            1 \n'
        "         x         -inf            6            0 \n"
        " \n"
    )
    assert blocks_equal(read_star(out), {"general": {**general, "rlnVoltage": 300.0}, "particles": table})


def test_version_none_and_empty_blocks_are_skipped(tmp_path: Path) -> None:
    out = tmp_path / "t.star"
    write_star(out, {"empty": Table({"rlnCoordinateX": []}), "none": {}, "": Table({"rlnCoordinateX": [1.5]})},
               version=None)
    assert out.read_text() == "\ndata_\n\nloop_ \n_rlnCoordinateX #1 \n    1.500000 \n \n"


def test_vectorised_float_format_matches_printf() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate([
        rng.normal(0, 2000, 20000), 10 ** rng.uniform(-12, 12, 20000) * rng.choice([-1, 1], 20000),
        np.round(rng.uniform(-1e3, 1e3, 5000), 6) + 5e-7, np.round(rng.uniform(-1e3, 1e3, 5000), 5) + 5e-6,
        [0.0, -0.0, 0.001, -0.001, 0.000999, 1e5, -1e5, 99999.9999996, -99999.999996, 1e-300, 1e300, 5e-324,
         0.0078125, 9.9999995e-4, 9999999.5, np.nan, -np.nan, np.inf, -np.inf],
    ])
    texts = format_column(values).tolist()
    assert texts == [float_text(v).encode() for v in values.tolist()]
    assert float_text(-2.5e-07) == "-2.50000e-07" and float_text(-0.000001) != "   -0.000000"


def test_integer_and_string_columns_format() -> None:
    ints = np.array([0, -1, 99999, -99999, 100000, -123456789012, np.iinfo(np.int64).min])
    assert format_column(ints).tolist() == [b"%12d" % v for v in ints.tolist()]
    strings = np.array(["a", "", "a b", "tab\there", '"q', "ok" * 10, "ünï"], dtype=object)
    assert format_column(strings, 10).tolist() == [escape_string(s).encode().rjust(10) for s in strings]
    assert escape_string('say "hi" now') == '"say "hi\a" now"'
    assert tokenize(escape_string('say "hi" now')) == ['say "hi" now']


# ----------------------------------------------------------------------------- parsing details


def test_quotes_comments_tabs_crlf_and_missing_final_newline(tmp_path: Path) -> None:
    path = _write_text(tmp_path / "q.star", (
        "# a comment before anything\r\ndata_x\r\n\r\n_rlnMtfFileName\t'my mtf.star'\r\n_rlnVoltage 300 # kV\r\n"
        "\r\ndata_rows\r\nloop_\r\n_rlnImageName\r\n_rlnCoordinateX #2\r\n"
        "\"a b\" 1\r\n  # a comment row\r\n\"\" 2.5\r\nfile#1.mrc\t3\r\n'it''s' 4"))
    blocks = read_star(path)
    assert blocks["x"] == {"rlnMtfFileName": "my mtf.star", "rlnVoltage": 300.0}
    rows = blocks["rows"]
    assert rows["rlnImageName"].tolist() == ["a b", "", "file#1.mrc", "it''s"]
    assert rows["rlnCoordinateX"].tolist() == [1.0, 2.5, 3.0, 4.0]


def test_unknown_labels_get_their_type_from_the_data(tmp_path: Path) -> None:
    path = _write_text(tmp_path / "u.star", (
        "data_\n_vitreoCount 3\n\ndata_t\nloop_\n_myInt\n_myFloat\n_myText\n1 1 a\n2 2.5 2\n"))
    blocks = read_star(path)
    assert blocks[""] == {"vitreoCount": 3}
    table = blocks["t"]
    assert table["myInt"].dtype == np.int64 and table["myFloat"].dtype == np.float64
    assert table["myText"].tolist() == ["a", "2"]


def test_loop_without_rows_is_an_empty_table(tmp_path: Path) -> None:
    text = "data_a\nloop_\n_rlnCoordinateX #1\n_rlnImageName #2\n\ndata_b\n_rlnVoltage 200\n"
    path = _write_text(tmp_path / "e.star", text)
    blocks = read_star(path)
    assert len(blocks["a"]) == 0 and blocks["a"].labels == ["rlnCoordinateX", "rlnImageName"]
    assert blocks["a"]["rlnCoordinateX"].dtype == np.float64
    assert blocks["b"] == {"rlnVoltage": 200.0}


def _big_table(rows: int) -> Table:
    rng = np.random.default_rng(3)
    return Table({
        "rlnImageName": [f"{i:06d}@Extract/job005/mic{i % 7}.mrcs" for i in range(1, rows + 1)],
        "rlnCoordinateX": rng.uniform(0, 4000, rows), "rlnAngleRot": rng.uniform(-180, 180, rows),
        "rlnLogLikeliContribution": rng.uniform(5e4, 3e5, rows), "rlnClassNumber": rng.integers(1, 5, rows),
        "rlnIsFlip": rng.integers(0, 2, rows).astype(bool), "myExtra": rng.integers(0, 9, rows),
    })


@pytest.mark.parametrize("layout", ["last", "followed", "crlf"])
def test_large_tables_parse_the_same_fast_and_slow(tmp_path: Path, layout: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    table = _big_table(3000)
    blocks = {"particles": table} if layout != "followed" else {"particles": table, "after": {"rlnVoltage": 300.0}}
    path = tmp_path / "big.star"
    write_star(path, blocks)
    if layout == "crlf":
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    with monkeypatch.context() as patch:  # the big loop must go through numpy's C reader
        patch.setattr(star._Reader, "_rows_slow", lambda self, labels, start, end, first: pytest.fail("slow path"))
        fast = read_star(path)
    assert blocks_equal(fast, blocks, rtol=TEXT_RTOL, atol=TEXT_ATOL)
    # a comment line in the rows sends the same table through the Python tokenizer
    lines = path.read_text().split("\n")
    lines.insert(20, "# a comment inside the loop")
    slow = read_star(_write_text(tmp_path / "slow.star", "\n".join(lines)))
    assert blocks_equal(slow, fast)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("text, line, words", [
    ("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n3\n", 6, "1 value, expected 2"),
    ("data_\nloop_\n_rlnCoordinateX\n_rlnClassNumber\n1 2\n3 x\n", 6, "'x' is not an integer"),
    ("data_\nloop_\n_rlnCoordinateX\n1\nabc\n", 5, "'abc' is not a number"),
    ("data_\nloop_\n_rlnCtfDataAreCtfPremultiplied\n0\n2\n", 5, "not 0 or 1"),
    ("hello world\n", 1, "expected data_"),
    ("data_\n_rlnVoltage\n", 2, "no value"),
    ("data_\n_rlnVoltage 300 400\n", 2, "more than one value"),
    ("data_\nloop_\n_rlnImageName\n'open quote\n", 4, "unterminated"),
    ("data_a\n_rlnVoltage 1\ndata_a\n", 3, "appears twice"),
    ("data_\nloop_\n\ndata_b\n", 2, "without column labels"),
    ("data_\n_rlnVoltage 300\nloop_\n_rlnA\n1\n", 3, "more than one loop or list"),
    ("data_\n_rlnVoltage 300\n1 2 3\n", 3, "unexpected text"),
    ("data_x # fine\n_rlnVoltage 1\ndata_y junk\n", 3, "unexpected text after data_y"),
])
def test_bad_input_names_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = _write_text(tmp_path / "bad.star", text)
    with pytest.raises(InputError) as caught:
        read_star(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line {line}: ") and words in message
    assert "\n" not in message


@pytest.mark.parametrize("problem", ["missing value", "word in number"])
def test_errors_in_large_tables_are_located(tmp_path: Path, problem: str) -> None:
    path = tmp_path / "big.star"
    write_star(path, {"particles": _big_table(2000)})
    lines = path.read_text().split("\n")
    target = 1500
    words = lines[target - 1].split()
    if problem == "missing value":
        del words[2]
    else:
        words[1] = "oops"
    lines[target - 1] = " ".join(words)
    _write_text(path, "\n".join(lines))
    with pytest.raises(InputError, match=rf"big\.star, line {target}: "):
        read_star(path)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nothing\.star: file not found"):
        read_star(tmp_path / "nothing.star")
    binary = tmp_path / "map.star"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(InputError, match="binary"):
        read_star(binary)
    assert read_star(_write_text(tmp_path / "empty.star", "")) == {}


# ----------------------------------------------------------------------------- Table


def test_table_coerces_and_selects() -> None:
    table = Table.from_columns({"rlnDefocusU": [1, 2, 3], "rlnClassNumber": [1.0, 2.0, 3.0],
                                "rlnImageName": np.array(["a", "b", "c"]), "rlnIsFlip": [0, 1, 0]})
    assert table["rlnDefocusU"].dtype == np.float64 and table["rlnClassNumber"].dtype == np.int64
    assert table["rlnImageName"].dtype == object and table["rlnIsFlip"].dtype == bool
    assert len(table) == 3 and table.labels == ["rlnDefocusU", "rlnClassNumber", "rlnImageName", "rlnIsFlip"]
    table["rlnVoltage"] = 300
    assert table["rlnVoltage"].tolist() == [300.0] * 3
    with pytest.raises(ValueError, match="has 2 values"):
        table["rlnDefocusV"] = [1.0, 2.0]
    with pytest.raises(ValueError, match="non-integer"):
        table["rlnClassNumber"] = [1.5, 2, 3]
    with pytest.raises(KeyError, match="rlnDefocusU"):
        table["rlnNope"]
    picked = table.select(table["rlnDefocusU"] > 1)
    assert picked["rlnImageName"].tolist() == ["b", "c"] and len(table.select([2, 0])) == 2
    copy = table.copy()
    copy["rlnDefocusU"][0] = 99.0
    assert table["rlnDefocusU"][0] == 1.0 and not copy.equals(table)
    assert copy.equals(copy.copy()) and "rlnVoltage" in table
    del copy["rlnVoltage"]
    assert "rlnVoltage" not in copy
    assert find_block({"images": table}, "particles", "images") is table
    with pytest.raises(KeyError, match="particles"):
        find_block({"images": table}, "particles")
