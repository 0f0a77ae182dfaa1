"""Read and write default_pipeline.star (and the per-job pipeline copies) in RELION 5's form.

Blocks, in RELION's order: ``pipeline_general`` (rlnPipeLineJobCounter),
``pipeline_processes`` (rlnPipeLineProcessName, rlnPipeLineProcessAlias,
rlnPipeLineProcessTypeLabel, rlnPipeLineProcessStatusLabel), ``pipeline_nodes``
(rlnPipeLineNodeName, rlnPipeLineNodeTypeLabel, rlnPipeLineNodeTypeLabelDepth),
``pipeline_input_edges`` (rlnPipeLineEdgeFromNode, rlnPipeLineEdgeProcess) and
``pipeline_output_edges`` (rlnPipeLineEdgeProcess, rlnPipeLineEdgeToNode), each after
``# version 50001``; empty tables are left out, as RELION does. RELION 3.x pipelines
(numeric types and statuses) are read and converted. Writes are atomic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star
from vitreo.pipeline.legacy_codes import node_label_from_code, process_label_from_code, status_from_code
from vitreo.pipeline.model import Node, Pipeline, Process, Status

PIPELINE_VERSION = 50001
NO_ALIAS = "None"


def pipeline_blocks(pipeline: Pipeline) -> dict[str, Table | dict[str, Any]]:
    """The STAR blocks of a pipeline."""
    processes = pipeline.processes
    return {
        "pipeline_general": {"rlnPipeLineJobCounter": pipeline.job_counter},
        "pipeline_processes": Table({
            "rlnPipeLineProcessName": [p.name for p in processes],
            "rlnPipeLineProcessAlias": [p.alias or NO_ALIAS for p in processes],
            "rlnPipeLineProcessTypeLabel": [p.type_label for p in processes],
            "rlnPipeLineProcessStatusLabel": [p.status.value for p in processes],
        }),
        "pipeline_nodes": Table({
            "rlnPipeLineNodeName": [n.name for n in pipeline.nodes],
            "rlnPipeLineNodeTypeLabel": [n.type_label for n in pipeline.nodes],
            "rlnPipeLineNodeTypeLabelDepth": [1] * len(pipeline.nodes),
        }),
        "pipeline_input_edges": Table({
            "rlnPipeLineEdgeFromNode": [node for node, _ in pipeline.input_edges],
            "rlnPipeLineEdgeProcess": [proc for _, proc in pipeline.input_edges],
        }),
        "pipeline_output_edges": Table({
            "rlnPipeLineEdgeProcess": [proc for proc, _ in pipeline.output_edges],
            "rlnPipeLineEdgeToNode": [node for _, node in pipeline.output_edges],
        }),
    }


def write_pipeline(path: str | os.PathLike[str], pipeline: Pipeline) -> None:
    """Write ``pipeline`` atomically (a reader sees the old or the new file, never a mix)."""
    write_star(path, pipeline_blocks(pipeline), version=PIPELINE_VERSION)


def read_pipeline(path: str | os.PathLike[str]) -> Pipeline:
    """Read a RELION 3.1, 4 or 5 pipeline file; InputError when it is damaged."""
    blocks = read_star(path)
    try:
        return _from_blocks(blocks)
    except (KeyError, ValueError, TypeError) as err:
        raise InputError(path, f"damaged pipeline ({err}); `vitreo project recover` rebuilds it "
                               "from the job directories") from None


def _from_blocks(blocks: dict[str, Any]) -> Pipeline:
    general = blocks.get("pipeline_general", {})
    pipeline = Pipeline(job_counter=int(general.get("rlnPipeLineJobCounter", 1)) if isinstance(general, dict) else 1)
    processes = _table(blocks, "pipeline_processes")
    if processes is not None:
        names = processes["rlnPipeLineProcessName"]
        aliases = processes["rlnPipeLineProcessAlias"]
        if "rlnPipeLineProcessTypeLabel" in processes:
            labels = list(processes["rlnPipeLineProcessTypeLabel"])
            statuses = [Status(label) for label in processes["rlnPipeLineProcessStatusLabel"]]
        else:
            labels = [process_label_from_code(code) for code in processes["rlnPipeLineProcessType"]]
            statuses = [status_from_code(code) for code in processes["rlnPipeLineProcessStatus"]]
        for name, alias, label, status in zip(names, aliases, labels, statuses):
            pipeline.processes.append(Process(str(name), None if alias == NO_ALIAS else str(alias), str(label), status))
    nodes = _table(blocks, "pipeline_nodes")
    if nodes is not None:
        if "rlnPipeLineNodeTypeLabel" in nodes:
            node_labels = [str(label) for label in nodes["rlnPipeLineNodeTypeLabel"]]
        else:
            node_labels = [node_label_from_code(code) for code in nodes["rlnPipeLineNodeType"]]
        pipeline.nodes = [Node(str(name), label) for name, label in zip(nodes["rlnPipeLineNodeName"], node_labels)]
    known_processes = {p.name for p in pipeline.processes}
    known_nodes = {n.name for n in pipeline.nodes}
    inputs = _table(blocks, "pipeline_input_edges")
    if inputs is not None:
        pipeline.input_edges = [(str(n), str(p)) for n, p in zip(inputs["rlnPipeLineEdgeFromNode"],
                                                                    inputs["rlnPipeLineEdgeProcess"])
                                if n in known_nodes and p in known_processes]
    outputs = _table(blocks, "pipeline_output_edges")
    if outputs is not None:
        pipeline.output_edges = [(str(p), str(n)) for p, n in zip(outputs["rlnPipeLineEdgeProcess"],
                                                                     outputs["rlnPipeLineEdgeToNode"])
                                 if n in known_nodes and p in known_processes]
    return pipeline


def _table(blocks: dict[str, Any], name: str) -> Table | None:
    block = blocks.get(name)
    if block is None:
        return None
    if not isinstance(block, Table):
        raise TypeError(f"block data_{name} is not a loop")
    return block


def read_pipeline_or_none(path: Path) -> Pipeline | None:
    """The pipeline in ``path``, or None when it is missing or unreadable."""
    try:
        return read_pipeline(path)
    except (InputError, OSError):
        return None


__all__ = ["PIPELINE_VERSION", "pipeline_blocks", "write_pipeline", "read_pipeline", "read_pipeline_or_none"]
