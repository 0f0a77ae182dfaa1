"""The particle's maps: states, solvent displacement, maps as input, size checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitreo.io.errors import InputError
from vitreo.io.mrc import read_mrc
from vitreo.simulate import preset
from vitreo.simulate.volumes import particle_maps


def test_betagal_maps_and_states() -> None:
    config = preset("tiny", state2_fraction=0.5)
    maps = particle_maps(config)
    assert len(maps.volumes) == 2 and maps.volumes[0].shape == (64, 64, 64)
    assert 190 < maps.diameter < 225  # 5A1A is about 200 Å across
    removed = maps.volumes[0].sum() - maps.volumes[1].sum()
    assert 0.03 < removed / maps.volumes[0].sum() < 0.2
    vacuum = particle_maps(config.replace(displace_solvent=False)).volumes[0]
    # in ice the particle's low-resolution contrast is its potential minus the displaced water's
    assert 0.2 < maps.volumes[0].sum() / vacuum.sum() < 0.6
    assert particle_maps(config) is maps  # cached


def test_bad_structures() -> None:
    with pytest.raises(InputError, match="smaller than the particle"):
        particle_maps(preset("tiny", box=32))
    with pytest.raises(InputError, match="selection"):
        particle_maps(preset("tiny", state2_fraction=0.5, state2_selection="Z/1-5"))


def test_map_as_structure(shared_data: Path) -> None:
    path = shared_data / "maps" / "betaGal.mrc"
    config = preset("tiny", structure=str(path), pixel_size=4.5)
    maps = particle_maps(config)
    volume = maps.volumes[0]
    assert volume.shape == (64, 64, 64)
    assert float(volume[volume > 0.1 * volume.max()].mean()) == pytest.approx(3.0, rel=1e-4)
    assert 150 < maps.diameter < 260
    original, _ = read_mrc(path)
    assert np.argmax(volume.sum(axis=(1, 2))) == pytest.approx(32, abs=3)  # stays centred
    assert original.shape == (100, 100, 100)
    with pytest.raises(InputError, match="atomic model"):
        particle_maps(config.replace(state2_fraction=0.2))
