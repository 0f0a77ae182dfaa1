"""The pipeline graph of a project, as default_pipeline.star records it.

Processes (jobs) are named by their directory with a trailing slash
(``Import/job001/``); an alias is ``Import/movies/`` or None. Nodes are files named
relative to the project (``Import/job001/movies.star``) with a RELION node type label.
Input edges (node -> process) say what a job reads; output edges (process -> node)
what it writes. The job counter is the number the next new job gets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    """A job's status label (RELION 4/5 ``rlnPipeLineProcessStatusLabel``)."""

    RUNNING = "Running"
    SCHEDULED = "Scheduled"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ABORTED = "Aborted"

    @property
    def finished(self) -> bool:
        return self in (Status.SUCCEEDED, Status.FAILED, Status.ABORTED)


_JOB_NAME = re.compile(r"^([A-Za-z0-9_]+)/job(\d+)/$")


def job_number(process_name: str) -> int:
    """The number of a job from its name (``Import/job007/`` -> 7)."""
    match = _JOB_NAME.match(process_name)
    if not match:
        raise ValueError(f"not a job name: {process_name!r} (expected <Type>/jobNNN/)")
    return int(match.group(2))


def job_name(directory: str, number: int) -> str:
    """``<directory>/jobNNN/`` with at least three digits, as RELION names jobs."""
    return f"{directory}/job{number:03d}/"


@dataclass
class Process:
    """One job in the pipeline."""

    name: str
    alias: str | None
    type_label: str
    status: Status

    @property
    def type_directory(self) -> str:
        """The job type's folder (``Import``)."""
        return self.name.split("/", 1)[0]

    @property
    def display_name(self) -> str:
        """The alias when there is one, else the name."""
        return self.alias or self.name


@dataclass(frozen=True)
class Node:
    """A file in the pipeline and its node type label."""

    name: str
    type_label: str


@dataclass
class Pipeline:
    """Processes, nodes and edges of one project (see the module docstring)."""

    job_counter: int = 1
    processes: list[Process] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    input_edges: list[tuple[str, str]] = field(default_factory=list)  # (node, process)
    output_edges: list[tuple[str, str]] = field(default_factory=list)  # (process, node)

    # ------------------------------------------------------------------ lookup
    def process(self, name: str) -> Process | None:
        """The process called ``name`` (trailing slash optional), or None."""
        name = name if name.endswith("/") else name + "/"
        return next((p for p in self.processes if p.name == name), None)

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def inputs_of(self, process: str) -> list[str]:
        """Names of the nodes a process reads, in order."""
        return [node for node, proc in self.input_edges if proc == process]

    def outputs_of(self, process: str) -> list[str]:
        """Names of the nodes a process writes, in order."""
        return [node for proc, node in self.output_edges if proc == process]

    def producer(self, node: str) -> str | None:
        """The process that writes ``node``, or None (a file from outside the pipeline)."""
        return next((proc for proc, name in self.output_edges if name == node), None)

    def consumers(self, node: str) -> list[str]:
        """The processes that read ``node``."""
        return [proc for name, proc in self.input_edges if name == node]

    def parents(self, process: str) -> list[str]:
        """Processes whose outputs ``process`` reads, in input order, without repeats."""
        found = [self.producer(node) for node in self.inputs_of(process)]
        return list(dict.fromkeys(p for p in found if p is not None))

    def children(self, process: str) -> list[str]:
        """Processes that read an output of ``process``."""
        found = [c for node in self.outputs_of(process) for c in self.consumers(node)]
        return list(dict.fromkeys(found))

    def upstream(self, process: str) -> list[str]:
        """``process`` and every process it depends on, nearest first."""
        return _closure(process, self.parents)

    def downstream(self, process: str) -> list[str]:
        """``process`` and every process that depends on it, nearest first."""
        return _closure(process, self.children)

    def canonical_node_name(self, path: str) -> str:
        """``path`` with a leading alias replaced by its job name (``Import/movies/x`` -> ``Import/job001/x``)."""
        for process in self.processes:
            if process.alias and path.startswith(process.alias):
                return process.name + path[len(process.alias):]
        return path

    # ------------------------------------------------------------------ editing
    def add_node(self, node: Node) -> Node:
        """Add ``node`` unless a node of that name exists; return the one in the pipeline."""
        existing = self.node(node.name)
        if existing is not None:
            return existing
        self.nodes.append(node)
        return node

    def add_process(self, process: Process) -> Process:
        """Add a new process, or update the status of one with the same name."""
        existing = self.process(process.name)
        if existing is not None:
            existing.status = process.status
            return existing
        self.processes.append(process)
        return process

    def add_input(self, node: Node, process: str) -> None:
        """Record that ``process`` reads ``node`` (once)."""
        node = self.add_node(Node(self.canonical_node_name(node.name), node.type_label))
        if (node.name, process) not in self.input_edges:
            self.input_edges.append((node.name, process))

    def add_output(self, process: str, node: Node) -> None:
        """Record that ``process`` writes ``node`` (once)."""
        node = self.add_node(node)
        if (process, node.name) not in self.output_edges:
            self.output_edges.append((process, node.name))

    def remove_output(self, process: str, node: str) -> None:
        """Forget that ``process`` writes ``node`` (and the node, when nothing else refers to it)."""
        self.output_edges = [edge for edge in self.output_edges if edge != (process, node)]
        self._drop_unreferenced_nodes()

    def extract(self, names: list[str]) -> Pipeline:
        """Remove the processes ``names`` and return them as a pipeline of their own.

        The returned pipeline keeps their edges and every node those edges name, so it
        can be merged back (undelete); nodes no remaining process refers to are dropped.
        """
        wanted = set(names)
        part = Pipeline(job_counter=self.job_counter)
        part.processes = [p for p in self.processes if p.name in wanted]
        part.input_edges = [e for e in self.input_edges if e[1] in wanted]
        part.output_edges = [e for e in self.output_edges if e[0] in wanted]
        named = {n for n, _ in part.input_edges} | {n for _, n in part.output_edges}
        part.nodes = [n for n in self.nodes if n.name in named]
        self.processes = [p for p in self.processes if p.name not in wanted]
        self.input_edges = [e for e in self.input_edges if e[1] not in wanted]
        self.output_edges = [e for e in self.output_edges if e[0] not in wanted]
        self._drop_unreferenced_nodes()
        return part

    def merge(self, other: Pipeline) -> None:
        """Add the processes, nodes and edges of ``other`` (names must be new)."""
        for process in other.processes:
            if self.process(process.name) is not None:
                raise ValueError(f"{process.name} is already in the pipeline")
            self.processes.append(Process(process.name, process.alias, process.type_label, process.status))
        for node in other.nodes:
            self.add_node(node)
        self.input_edges += [e for e in other.input_edges if e not in self.input_edges]
        self.output_edges += [e for e in other.output_edges if e not in self.output_edges]
        self.job_counter = max(self.job_counter, other.job_counter)

    def sort_processes(self) -> None:
        """Order processes by job number, as RELION lists them."""
        self.processes.sort(key=lambda p: job_number(p.name) if _JOB_NAME.match(p.name) else 0)

    def _drop_unreferenced_nodes(self) -> None:
        named = {n for n, _ in self.input_edges} | {n for _, n in self.output_edges}
        self.nodes = [n for n in self.nodes if n.name in named]


def _closure(start: str, step: Callable[[str], list[str]]) -> list[str]:
    seen = [start]
    frontier = [start]
    while frontier:
        following = []
        for name in frontier:
            for other in step(name):
                if other not in seen:
                    seen.append(other)
                    following.append(other)
        frontier = following
    return seen


__all__ = ["Status", "Process", "Node", "Pipeline", "job_number", "job_name"]
