"""RELION 2.x/3.0 <-> 3.1+ conversion, checked against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star
from vitreo.io.star_convert import convert_to_relion30, convert_to_relion31, is_pre31

STAR = "star"


def test_empiar_10076_particles(shared_data: Path, tmp_path: Path) -> None:
    blocks = read_star(shared_data / STAR / "cryodrgn/empiar_10076_7.star")
    assert is_pre31(blocks)
    new = convert_to_relion31(blocks, project_dir=shared_data / "images/cryodrgn")
    assert list(new) == ["optics", "particles"]
    optics, particles = new["optics"], new["particles"]
    assert optics.labels == ["rlnOpticsGroup", "rlnOpticsGroupName", "rlnVoltage", "rlnSphericalAberration",
                             "rlnAmplitudeContrast", "rlnImagePixelSize", "rlnImageSize", "rlnImageDimensionality"]
    assert optics["rlnOpticsGroup"].tolist() == [1] and optics["rlnOpticsGroupName"].tolist() == ["opticsGroup1"]
    assert optics["rlnVoltage"][0] == 300.0 and optics["rlnSphericalAberration"][0] == 2.7
    assert optics["rlnAmplitudeContrast"][0] == 0.07
    assert optics["rlnImagePixelSize"][0] == pytest.approx(10000 * 5 / 38168)  # 1.31 Å from DPS 5 µm, mag 38168
    assert optics["rlnImageSize"].tolist() == [320] and optics["rlnImageDimensionality"].tolist() == [2]
    assert particles.labels == ["rlnImageName", "rlnMicrographName", "rlnDefocusU", "rlnDefocusV",
                                "rlnDefocusAngle", "rlnOpticsGroup"]
    assert particles["rlnOpticsGroup"].tolist() == [1] * 7
    assert particles["rlnDefocusU"][0] == 15301.1
    out = tmp_path / "particles.star"
    write_star(out, new)
    assert not is_pre31(read_star(out))


def test_pfcrt_offsets_become_angstrom(shared_data: Path) -> None:
    blocks = read_star(shared_data / STAR / "cryodrgn/FinalRefinement-OriginalParticles-PfCRT.star")
    assert is_pre31(blocks) and list(blocks) == ["images"]
    new = convert_to_relion31(blocks)
    optics, particles = new["optics"], new["particles"]
    assert optics["rlnImagePixelSize"].tolist() == pytest.approx([1.035])  # 10000 · 1.035 µm / 10000
    assert optics["rlnSphericalAberration"][0] == 0.001 and optics["rlnVoltage"][0] == 300.0
    assert "rlnMagnification" not in optics and "rlnDetectorPixelSize" not in optics
    assert "rlnOriginX" not in particles and "rlnVoltage" not in particles
    assert particles["rlnOriginXAngst"][:2] == pytest.approx([-0.14063 * 1.035, -0.14062 * 1.035])
    assert particles["rlnOriginYAngst"][3] == pytest.approx(blocks["images"]["rlnOriginY"][3] * 1.035)
    assert particles.labels.index("rlnOriginXAngst") == blocks["images"].labels.index("rlnOriginX") - 2
    assert particles["rlnRandomSubset"].tolist() == blocks["images"]["rlnRandomSubset"].tolist()


def test_pre31_model_file(shared_data: Path) -> None:
    blocks = read_star(shared_data / STAR / "aspire/sample_data_model.star")
    assert is_pre31(blocks)
    new = convert_to_relion31(blocks)
    assert list(new) == list(blocks)
    assert new["model_general"]["rlnSigmaOffsetsAngst"] == pytest.approx(6.653256 * 1.25)
    assert "rlnSigmaOffsets" not in new["model_general"]
    classes = new["model_classes"]
    old_accuracy = blocks["model_classes"]["rlnAccuracyTranslations"][0]
    assert classes["rlnAccuracyTranslationsAngst"][0] == pytest.approx(old_accuracy * 1.25)
    assert not is_pre31(new)
    back = convert_to_relion30(new)
    assert back["model_general"]["rlnSigmaOffsets"] == pytest.approx(6.653256)


def _pre31_particles() -> dict[str, Table]:
    return {"": Table({
        "rlnImageName": [f"{i}@s.mrcs" for i in range(1, 6)],
        "rlnVoltage": [300.0, 200.0, 300.0, 200.0, 300.0],
        "rlnSphericalAberration": [2.7] * 5,
        "rlnAmplitudeContrast": [0.1] * 5,
        "rlnMagnification": [10000.0, 20000.0, 10000.0, 20000.0, 10000.0],
        "rlnDetectorPixelSize": [5.0] * 5,
        "rlnOriginX": [1.0, 2.0, 3.0, 4.0, 5.0],
        "rlnOriginY": [0.0, -1.0, 0.0, -1.0, 0.0],
    })}


def test_optics_groups_follow_first_appearance() -> None:
    new = convert_to_relion31(_pre31_particles(), image_size=128)
    optics, particles = new["optics"], new["particles"]
    assert optics["rlnVoltage"].tolist() == [300.0, 200.0]
    assert optics["rlnImagePixelSize"].tolist() == [5.0, 2.5]
    assert optics["rlnImageSize"].tolist() == [128, 128] and optics["rlnImageDimensionality"].tolist() == [2, 2]
    assert optics["rlnOpticsGroupName"].tolist() == ["opticsGroup1", "opticsGroup2"]
    assert particles["rlnOpticsGroup"].tolist() == [1, 2, 1, 2, 1]
    assert particles["rlnOriginXAngst"].tolist() == [5.0, 5.0, 15.0, 10.0, 25.0]
    assert particles["rlnOriginYAngst"].tolist() == [0.0, -2.5, 0.0, -2.5, 0.0]


def test_pixel_size_is_needed_for_offsets() -> None:
    blocks = {"": Table({"rlnImageName": ["1@s.mrcs"], "rlnVoltage": [300.0], "rlnOriginX": [2.0]})}
    with pytest.raises(InputError, match="pixel_size"):
        convert_to_relion31(blocks)
    new = convert_to_relion31(blocks, pixel_size=1.5)
    assert new["particles"]["rlnOriginXAngst"].tolist() == [3.0]
    assert new["optics"]["rlnImagePixelSize"].tolist() == [1.5]


def test_micrographs_and_movies() -> None:
    mics = {"": Table({"rlnMicrographName": ["a.mrc", "b.mrc"], "rlnVoltage": [300.0, 300.0],
                       "rlnMagnification": [10000.0, 10000.0], "rlnDetectorPixelSize": [1.1, 1.1],
                       "rlnDefocusU": [1e4, 2e4]})}
    new = convert_to_relion31(mics)
    assert list(new) == ["optics", "micrographs"]
    assert new["optics"]["rlnMicrographPixelSize"].tolist() == pytest.approx([1.1])
    assert new["optics"]["rlnMicrographOriginalPixelSize"].tolist() == pytest.approx([1.1])
    assert new["micrographs"].labels == ["rlnMicrographName", "rlnDefocusU", "rlnOpticsGroup"]
    movies = {"": Table({"rlnMicrographMovieName": ["a.tiff"], "rlnVoltage": [200.0]})}
    new = convert_to_relion31(movies, pixel_size=0.885)
    assert list(new) == ["optics", "movies"]
    assert new["optics"]["rlnMicrographOriginalPixelSize"].tolist() == [0.885]


@pytest.mark.parametrize("name", [
    "cryodrgn/relion31.star", "cryodrgn/relion5.star", "cryojax/trpv1_small_stack.star",
    "relion5_betagal_sppractice/CtfFind/job005/micrographs_ctf.star",
    "relion5_betagal_sppractice/Import/job001/movies.star",
])
def test_relion31_to_30_and_back(shared_data: Path, tmp_path: Path, name: str) -> None:
    blocks = read_star(shared_data / STAR / name)
    assert not is_pre31(blocks)
    assert convert_to_relion31(blocks) == blocks
    old = convert_to_relion30(blocks)
    assert is_pre31(old) and "optics" not in old
    data = next(iter(old.values()))
    assert "rlnVoltage" in data and "rlnOriginXAngst" not in data
    if "rlnOriginXAngst" in blocks.get("particles", Table()):
        pixel = blocks["optics"]["rlnImagePixelSize"][0]
        assert data["rlnOriginX"] == pytest.approx(blocks["particles"]["rlnOriginXAngst"] / pixel)
    path = tmp_path / "old.star"
    write_star(path, old, version=None)
    back = convert_to_relion31(read_star(path))
    assert set(back) == set(blocks)
    for block_name, table in blocks.items():
        again = back[block_name]
        assert set(again.labels) == set(table.labels)
        assert Table({label: again[label] for label in table.labels}).equals(table, rtol=1e-5, atol=1e-5)


def test_relion30_needs_optics_groups() -> None:
    blocks = {"optics": Table({"rlnOpticsGroup": [1], "rlnImagePixelSize": [1.0]}),
              "particles": Table({"rlnImageName": ["1@a.mrcs"], "rlnOpticsGroup": [2]})}
    with pytest.raises(InputError, match="rlnOpticsGroup 2"):
        convert_to_relion30(blocks)
