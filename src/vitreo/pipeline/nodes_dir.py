"""RELION's ``.Nodes/`` folder: an empty file for every existing output node, for file browsers.

An entry is ``.Nodes/<kind>/<job or alias path>/<file>``, where ``<kind>`` is the node
type label up to its first dot (``MicrographMovieGroupMetadata``) and an aliased job's
files appear under the alias. Entries of scheduled jobs exist before their files do.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from vitreo.jobs.node_types import kind
from vitreo.pipeline.model import Node, Pipeline, Status

NODES_DIR = ".Nodes"


def node_entry(root: Path, pipeline: Pipeline, node: Node) -> Path:
    """The ``.Nodes`` entry of ``node``."""
    name = node.name
    producer = pipeline.process(pipeline.producer(node.name) or "")
    if producer is not None and producer.alias and name.startswith(producer.name):
        name = producer.alias + name[len(producer.name):]
    return root / NODES_DIR / kind(node.type_label) / name


def touch_outputs(root: Path, pipeline: Pipeline, process: str) -> None:
    """Create the entries of the outputs of ``process`` that exist (all, when it is scheduled)."""
    proc = pipeline.process(process)
    force = proc is not None and proc.status is Status.SCHEDULED
    for name in pipeline.outputs_of(process):
        node = pipeline.node(name)
        if node is not None and (force or (root / node.name).exists()):
            entry = node_entry(root, pipeline, node)
            entry.parent.mkdir(parents=True, exist_ok=True)
            entry.touch()


def remove_outputs(root: Path, pipeline: Pipeline, process: str) -> None:
    """Remove the entries of the outputs of ``process`` (and folders left empty)."""
    for name in pipeline.outputs_of(process):
        node = pipeline.node(name)
        if node is None:
            continue
        entry = node_entry(root, pipeline, node)
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
        folder = entry.parent
        while folder != root / NODES_DIR and folder.is_dir():
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent


def remake(root: Path, pipeline: Pipeline) -> None:
    """Rebuild ``.Nodes`` from scratch."""
    shutil.rmtree(root / NODES_DIR, ignore_errors=True)
    for process in pipeline.processes:
        touch_outputs(root, pipeline, process.name)


__all__ = ["NODES_DIR", "node_entry", "touch_outputs", "remove_outputs", "remake"]
