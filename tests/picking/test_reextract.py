"""Re-extraction coordinates: re-centring on refined offsets or on a point of the reference."""

from __future__ import annotations

import numpy as np

from vitreo.io.star import Table
from vitreo.picking.reextract import reextraction_coordinates


def _particles() -> Table:
    return Table({"rlnCoordinateX": [100.0, 200.0], "rlnCoordinateY": [50.0, 80.0],
                  "rlnOriginXAngst": [7.0, -3.0], "rlnOriginYAngst": [-14.0, 0.0],
                  "rlnAngleRot": [0.0, 0.0], "rlnAngleTilt": [0.0, 0.0], "rlnAnglePsi": [0.0, 90.0]})


def test_recentring_moves_the_coordinate_onto_the_particle_centre_and_keeps_the_subpixel_rest() -> None:
    table = reextraction_coordinates(_particles(), 2.0, 4.0, recenter=True, reset_offsets=False)
    centre = np.array([[100 - 3.5, 50 + 7.0], [200 + 1.5, 80.0]])  # coordinate − origin / micrograph pixel
    assert np.allclose(np.stack([table["rlnCoordinateX"], table["rlnCoordinateY"]], 1), centre)
    rounded = np.rint(centre)
    # the particle centre stays at box centre − origin, i.e. at round(c) − origin/p = c
    origin = np.stack([table["rlnOriginXAngst"], table["rlnOriginYAngst"]], 1)
    assert np.allclose(rounded - origin / 2.0, centre)


def test_recentring_on_a_reference_point_follows_the_particle_orientation() -> None:
    table = reextraction_coordinates(_particles(), 2.0, 4.0, recenter=True, reset_offsets=False,
                                     centre=(5.0, 0.0, 0.0))
    # psi 0: the point (5, 0) of the reference is 5 reference px = 20 Å = 10 micrograph px along +x;
    # psi 90: A = Rz(90°) sends (5, 0, 0) to (0, −5): 10 micrograph px along −y
    assert np.allclose(table["rlnCoordinateX"], [100 - 3.5 + 10, 200 + 1.5])
    assert np.allclose(table["rlnCoordinateY"], [50 + 7.0, 80.0 - 10])


def test_reset_and_keep_offsets() -> None:
    reset = reextraction_coordinates(_particles(), 2.0, 4.0, recenter=False, reset_offsets=True)
    assert np.all(reset["rlnOriginXAngst"] == 0) and np.all(reset["rlnCoordinateX"] == [100.0, 200.0])
    kept = reextraction_coordinates(_particles(), 2.0, 4.0, recenter=False, reset_offsets=False)
    assert np.allclose(kept["rlnOriginXAngst"], [7.0, -3.0])
