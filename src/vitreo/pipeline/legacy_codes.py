"""RELION 3.x pipelines stored job types, node types and statuses as numbers; their labels.

RELION 4 replaced ``rlnPipeLineProcessType``/``rlnPipeLineProcessStatus``/
``rlnPipeLineNodeType`` (integers) by type and status labels. These tables convert a 3.x
``default_pipeline.star`` on reading (``pipeline_jobs.h`` of RELION 3.1 and 5).
"""

from __future__ import annotations

from vitreo.pipeline.model import Status

STATUS_CODES: dict[int, Status] = {
    0: Status.RUNNING, 1: Status.SCHEDULED, 2: Status.SUCCEEDED, 3: Status.FAILED, 4: Status.ABORTED,
}

PROCESS_TYPE_CODES: dict[int, str] = {
    0: "relion.import", 1: "relion.motioncorr", 2: "relion.ctffind", 3: "relion.manualpick",
    4: "relion.autopick", 5: "relion.extract", 6: "relion.sort", 7: "relion.select", 8: "relion.class2d",
    9: "relion.class3d", 10: "relion.refine3d", 11: "relion.polish", 12: "relion.maskcreate",
    13: "relion.joinstar", 14: "relion.subtract", 15: "relion.postprocess", 16: "relion.localres",
    17: "relion.movierefine", 18: "relion.initialmodel", 19: "relion.multibody", 20: "relion.polish",
    21: "relion.ctfrefine", 22: "dynamight", 23: "modelangelo", 99: "relion.external",
}

NODE_TYPE_CODES: dict[int, str] = {
    0: "MicrographMovieGroupMetadata.star.relion",
    1: "MicrographGroupMetadata.star.relion",
    2: "MicrographCoordsGroup.star.relion",
    3: "ParticleGroupMetadata.star.relion",
    4: "ParticleGroupMetadata.star.relion.movieparticles",
    5: "Image2DGroupMetadata.star.relion",
    6: "DensityMap.mrc",
    7: "Mask3D.mrc",
    8: "ProcessData.star.relion.model",
    9: "OptimiserData.star.relion",
    10: "DensityMap.mrc.halfmap",
    11: "DensityMap.mrc.relion.postprocess",
    12: "Image3D.mrc.localresmap",
    13: "LogFile.pdf.relion",
    14: "ProcessData.star.relion.postprocess",
    15: "ParamsData.txt.relion.polish",
}


def status_from_code(code: int) -> Status:
    try:
        return STATUS_CODES[int(code)]
    except KeyError:
        raise ValueError(f"unknown RELION 3 process status {code}") from None


def process_label_from_code(code: int) -> str:
    return PROCESS_TYPE_CODES.get(int(code), f"relion.unknown{int(code)}")


def node_label_from_code(code: int) -> str:
    return NODE_TYPE_CODES.get(int(code), f"Unknown{int(code)}")


__all__ = ["status_from_code", "process_label_from_code", "node_label_from_code"]
