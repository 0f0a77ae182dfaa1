"""RELION 5 node type labels (``pipeline_jobs.h``), as written in default_pipeline.star.

A label is a dotted path: the data kind, the file format, then ever more specific
producers (``MicrographGroupMetadata.star.relion.motioncorr``). A job input accepts any
node whose label starts with the input's general label, so ``MICROGRAPHS`` accepts the
output of Import, MotionCorr or CtfFind. RELION files its ``.Nodes/`` entries under the
kind (the part before the first dot).
"""

from __future__ import annotations

# General labels: what a job input asks for (RELION's ``*_CPIPE`` labels).
MOVIES = "MicrographMovieGroupMetadata.star.relion"
MICROGRAPHS = "MicrographGroupMetadata.star.relion"
IMAGES_2D = "Image2DGroupMetadata.star.relion"
MAP = "DensityMap.mrc"
PARTICLES = "ParticleGroupMetadata.star.relion"
COORDINATES = "MicrographCoordsGroup.star.relion"
OPTIMISER = "OptimiserData.star.relion"
MASK = "Mask3D.mrc"
HALFMAP = "DensityMap.mrc.halfmap"
LOCAL_RESOLUTION_MAP = "Image3D.mrc.localresmap"
LOGFILE = "LogFile.pdf.relion"
POSTPROCESS = "ProcessData.star.relion.postprocess"

# Outputs of the Import job (RELION's ``LABEL_IMPORT_*``).
IMPORT_MOVIES = MOVIES
IMPORT_MICROGRAPHS = MICROGRAPHS
IMPORT_COORDINATES = COORDINATES
IMPORT_PARTICLES = PARTICLES
IMPORT_IMAGES_2D = IMAGES_2D
IMPORT_MAP = MAP
IMPORT_MASK = MASK
IMPORT_HALFMAP = HALFMAP


def kind(label: str) -> str:
    """The data kind of a label: the part before the first dot (``.Nodes/`` folder name)."""
    return label.split(".", 1)[0]


def accepts(wanted: str, label: str) -> bool:
    """True when a node of type ``label`` can feed an input that asks for ``wanted``: the parts
    of ``wanted`` appear in ``label`` in order, the first two (kind and format) leading it — so
    ``DensityMap.mrc.halfmap`` accepts RELION 5's ``DensityMap.mrc.relion.halfmap.refine3d``."""
    wanted_parts, parts = wanted.split("."), label.split(".")
    if parts[:2] != wanted_parts[:2]:
        return False
    rest = iter(parts[2:])
    return all(part in rest for part in wanted_parts[2:])


def describe(label: str) -> str:
    """A short human name for a node type, as RELION's flowchart labels arrows."""
    if ".halfmap" in label:
        return "half-map"
    for prefix, name in _NAMES:
        if label.startswith(prefix):
            return name
    return kind(label)


_NAMES: tuple[tuple[str, str], ...] = (
    (MOVIES, "movies"),
    (MICROGRAPHS, "micrographs"),
    (COORDINATES, "coords"),
    (PARTICLES, "particles"),
    (IMAGES_2D, "2D refs"),
    ("DensityMap.mrc.relion.postprocess", "final map"),
    (MAP, "3D ref"),
    (MASK, "mask"),
    (OPTIMISER, "continue"),
    (LOCAL_RESOLUTION_MAP, "local-res map"),
    (LOGFILE, "logfile"),
)
