"""A dataset's files: layout, RELION formats, counts, detector, reproducibility, all-or-nothing writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitreo.io.errors import InputError
from vitreo.io.movies import open_movie
from vitreo.io.mrc import read_mrc, read_header_info
from vitreo.io.star import read_star, read_star_version
from vitreo.simulate import SimulationConfig, preset, simulate_dataset
from vitreo.simulate import dataset as dataset_module
from vitreo.simulate.config import field_names
from vitreo.simulate.materials import VITREOUS_ICE


@pytest.fixture(scope="module")
def detector_dataset(tmp_path_factory: pytest.TempPathFactory):
    """tiny with a gain reference, hot and dead pixels and two states; no carbon or contamination."""
    config = preset("tiny", gain_reference=True, hot_pixels=6, dead_pixels=4, state2_fraction=0.3, n_frames=6,
                    carbon_probability=0.0, seed=11)
    return simulate_dataset(tmp_path_factory.mktemp("detector") / "data", config), config


def test_layout_and_star_files(detector_dataset) -> None:
    dataset, config = detector_dataset
    root = dataset.root
    expected = {
        "Micrographs/mic001_movie.mrcs", "Micrographs/mic002_movie.mrcs", "Micrographs/gain.mrc",
        "mtf_falcon2_300kV.star", "truth/particles.star", "truth/micrographs.star", "truth/motion/mic001.star",
        "truth/motion/mic002.star", "truth/map.mrc", "truth/map_state2.mrc", "truth/README.md", "truth/simulation.json",
    }
    assert {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} == expected
    assert not list(root.parent.glob(".*partial*"))
    blocks = read_star(dataset.particles_star)
    assert read_star_version(dataset.particles_star) == 30001
    optics, particles = blocks["optics"], blocks["particles"]
    assert optics["rlnImageSize"][0] == config.box and optics["rlnImagePixelSize"][0] == config.pixel_size
    good = particles["rlnVitreoIsJunk"] == 0
    assert good.sum() == dataset.n_particles == 40 and (~good).sum() == dataset.n_junk
    states = particles["rlnVitreoState"][good]
    assert set(states) == {1, 2} and set(particles["rlnVitreoState"][~good]) <= {0}
    assert set(particles["rlnVitreoObjectType"][~good]) <= {"aggregate", "broken", "ice", "blob"}
    for axis, size in zip("XY", config.micrograph_size, strict=True):
        coordinate = particles[f"rlnCoordinate{axis}"][good]
        assert np.all(coordinate == np.rint(coordinate))
        assert config.box / 2 <= coordinate.min() and coordinate.max() <= size - config.box / 2
    assert np.abs(particles["rlnOriginXAngst"]).max() <= 0.5 * config.pixel_size
    micrographs = read_star(dataset.micrographs_star)["micrographs"]
    assert list(micrographs["rlnMicrographName"]) == ["Micrographs/mic001_movie.mrcs", "Micrographs/mic002_movie.mrcs"]
    assert np.all(micrographs["rlnDefocusU"] >= micrographs["rlnDefocusV"])
    assert np.all((micrographs["rlnDefocusU"] + micrographs["rlnDefocusV"]) / 2 >= config.defocus_range[0])
    motion = read_star(root / "truth" / "motion" / "mic001.star")
    assert motion["general"]["rlnImageSizeZ"] == config.n_frames
    assert motion["general"]["rlnMicrographGainName"] == "Micrographs/gain.mrc"
    assert len(motion["local_motion_model"]) == 36
    readme = (root / "truth" / "README.md").read_text()
    assert all(f"| {name} |" in readme for name in field_names())
    assert SimulationConfig.from_json(root / "truth" / "simulation.json") == config


def test_maps_are_the_states(detector_dataset) -> None:
    dataset, config = detector_dataset
    state1, pixel = read_mrc(dataset.maps[0])
    state2, _ = read_mrc(dataset.maps[1])
    assert state1.shape == (config.box,) * 3 and pixel == pytest.approx(config.pixel_size)
    removed = np.abs(state1 - state2).sum() / np.abs(state1).sum()
    assert 0.02 < removed < 0.2  # domain 5 of one chain: about 7% of the mass


def test_counts_gain_and_defects(detector_dataset) -> None:
    dataset, config = detector_dataset
    gain, _ = read_mrc(dataset.gain)
    dead = gain == 0
    assert dead.sum() == config.dead_pixels
    hot = read_star(dataset.root / "truth" / "motion" / "mic001.star")["hot_pixels"]
    hx, hy = hot["rlnCoordinateX"].astype(int), hot["rlnCoordinateY"].astype(int)
    micrographs = read_star(dataset.micrographs_star)["micrographs"]
    assert read_header_info(dataset.micrographs[0]).mode == 1  # int16: hot pixels read 10 × 20 e
    with open_movie(dataset.micrographs[0]) as movie:
        frames = movie.frames()
    assert frames.shape == (config.n_frames, 512, 512) and np.all(frames == np.rint(frames))
    assert np.all(frames[:, dead] == 0)
    mean = config.dose_per_frame * config.pixel_size**2
    assert np.all(frames[:, hy, hx] > 5 * mean)
    corrected = (frames * gain)[:, ~dead]
    corrected[:, np.isin(np.flatnonzero(~dead), hy * 512 + hx)] = np.nan
    transmission = np.exp(-micrographs["rlnMicrographIceThickness"][0] / VITREOUS_ICE.mean_free_path(config.voltage))
    assert np.nanmean(corrected) == pytest.approx(mean * transmission, rel=0.02)
    assert np.nanvar(corrected[0]) == pytest.approx(mean * transmission, rel=0.25)  # Poisson (gain adds a little)


def test_seed_reproduces_and_tiff_matches_mrcs(tmp_path: Path) -> None:
    config = preset("tiny", n_micrographs=1, n_frames=4, seed=5)
    first = simulate_dataset(tmp_path / "a", config)
    again = simulate_dataset(tmp_path / "b", config)
    other = simulate_dataset(tmp_path / "c", config.replace(seed=6))
    tiff = simulate_dataset(tmp_path / "d", config.replace(tiff=True))
    assert first.particles_star.read_text() == again.particles_star.read_text() != other.particles_star.read_text()
    with open_movie(first.micrographs[0]) as a, open_movie(tiff.micrographs[0]) as b:
        assert tiff.micrographs[0].suffix == ".tif"
        assert np.array_equal(a.frames(), b.frames())  # TIFF is stored flipped; reading flips it back


def test_existing_folder_and_failures_leave_nothing_half_written(tmp_path: Path, monkeypatch) -> None:
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    config = preset("tiny", n_micrographs=1, micrographs_only=True)
    with pytest.raises(InputError, match="not empty"):
        simulate_dataset(occupied, config)
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(dataset_module, "_write_maps", broken)
    with pytest.raises(RuntimeError):
        simulate_dataset(tmp_path / "new", config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied"]
    monkeypatch.undo()
    replaced = simulate_dataset(occupied, config, overwrite=True)
    assert not (occupied / "keep.txt").exists() and replaced.micrographs[0].is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied"]
