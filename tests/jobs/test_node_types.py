"""Which node types feed which job inputs."""

from __future__ import annotations

import pytest

from vitreo.jobs import node_types
from vitreo.jobs.node_types import accepts


@pytest.mark.parametrize(("wanted", "label", "expected"), [
    (node_types.MICROGRAPHS, "MicrographGroupMetadata.star.relion.motioncorr", True),
    (node_types.MICROGRAPHS, node_types.MICROGRAPHS, True),
    (node_types.MICROGRAPHS, node_types.MOVIES, False),  # another kind
    (node_types.HALFMAP, "DensityMap.mrc.relion.halfmap.refine3d", True),  # RELION 5's Refine3D half-map
    (node_types.HALFMAP, "DensityMap.mrc.relion.refine3d", False),  # a full map is not a half-map
    (node_types.MAP, "DensityMap.mrc.relion.halfmap.refine3d", True),
    (node_types.MASK, "DensityMap.mrc", False),
    ("ParticleGroupMetadata.star.relion.sort", node_types.PARTICLES, False),  # more specific than given
])
def test_accepts(wanted: str, label: str, expected: bool) -> None:
    assert accepts(wanted, label) is expected
