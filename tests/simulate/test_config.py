"""Presets and parameter checks."""

from __future__ import annotations

import pytest

from vitreo.io.errors import InputError
from vitreo.simulate import PRESETS, SimulationConfig, preset


def test_presets_match_the_issue() -> None:
    tutorial = preset("tutorial")
    assert tutorial == SimulationConfig()
    assert (tutorial.n_micrographs, tutorial.micrograph_size, tutorial.n_frames) == (15, (2048, 2048), 16)
    assert (tutorial.pixel_size, tutorial.box, tutorial.voltage, tutorial.cs, tutorial.amplitude_contrast) == (
        3.54, 100, 300.0, 2.0, 0.1)
    assert tutorial.defocus_range == (8000.0, 30000.0) and tutorial.dose_per_frame == 1.0
    assert tutorial.n_micrographs * tutorial.particles_per_micrograph == pytest.approx(10000, rel=0.01)
    quick = preset("quick")
    assert quick.n_micrographs == 8 and quick.micrograph_size == (1024, 1024)
    assert (quick.pixel_size, quick.box) == (4.5, 80)
    assert quick.n_micrographs * quick.particles_per_micrograph == pytest.approx(1500, rel=0.05)
    tiny = preset("tiny")
    assert tiny.n_micrographs == 2 and tiny.micrograph_size == (512, 512) and tiny.box == 64
    for config in PRESETS.values():
        config.validate()


def test_overrides_and_unknown_names() -> None:
    assert preset("tiny", seed=3, n_frames=4).seed == 3
    with pytest.raises(InputError, match="unknown preset 'huge'"):
        preset("huge")
    with pytest.raises(InputError, match="unknown simulation parameter"):
        preset("tiny", pixel=2.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dose_per_frame": 0.0}, "dose per frame must be positive"),
        ({"dose_per_frame": -1.0}, "dose per frame must be positive"),
        ({"particle_diameter": 300.0}, "smaller than the particle"),
        ({"box": 63}, "box must be even"),
        ({"amplitude_contrast": 1.0}, "amplitude contrast"),
        ({"defocus_range": (3e4, 1e4)}, "defocus range"),
        ({"state2_fraction": 1.5}, "state2_fraction"),
        ({"dead_pixels": 3}, "gain-reference"),
        ({"tiff": True, "micrographs_only": True}, "cannot be combined"),
    ],
)
def test_bad_values_are_one_line_errors(changes: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        preset("tiny", **changes).validate()
    assert "\n" not in str(caught.value)
