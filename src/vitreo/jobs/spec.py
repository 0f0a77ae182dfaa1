"""A job type as data: ``JobSpec`` (ccpem-pipeliner style).

A job type declares its parameters (RELION variable names, defaults, GUI tabs, help),
the node types it consumes (its INPUT_NODE options) and produces (``output_nodes``),
its RELION type label, what gentle and harsh cleaning remove, how it continues, and
the function that does the work::

    run(job_dir: Path, params: Params, ctx: JobContext) -> Sequence[OutputNode] | None

``run`` returns output nodes known only after running (e.g. the last iteration of a
classification), or None. The pipeline writes job.star, note.txt, run.out/run.err and
the exit markers; ``run`` writes only its own outputs, atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from vitreo.jobs.context import JobContext
from vitreo.jobs.options import JobOption, OptionKind, Params


@dataclass(frozen=True)
class OutputNode:
    """A file a job produces, relative to its job directory, and its node type label."""

    file: str
    type_label: str


@dataclass(frozen=True)
class InputNode:
    """A file a job consumes (relative to the project) and the node type it asks for."""

    path: str
    type_label: str


class ContinueRule(Enum):
    """What ``vitreo job continue`` (and each autorun repeat) means for a job type.

    NEW_INPUTS_ONLY: preprocessing; process only the micrographs/movies not done before,
        keeping earlier results (Import, MotionCorr, CtfFind, Extract). Scheduled jobs of
        this kind start as continuations, so on-the-fly repeats only add new data.
    FROM_OPTIMISER: maximum-likelihood jobs; continue from a given ``_optimiser.star``
        (``continue_option``); an autorun repeat restarts from scratch.
    RESTART: the job always runs from scratch.
    """

    NEW_INPUTS_ONLY = "new_inputs_only"
    FROM_OPTIMISER = "from_optimiser"
    RESTART = "restart"


RunFunction = Callable[[Path, Params, JobContext], Sequence[OutputNode] | None]


def _no_check(params: Params) -> None:
    return None


@dataclass(frozen=True)
class JobSpec:
    """One job type (see the module docstring).

    ``directory``: RELION's job folder name (``Import``); ``type_label``: the general
    RELION label (``relion.import``); ``label_for(params)``: the specific label written
    to the pipeline (``relion.import.movies``); ``hidden_name``: RELION GUI's hidden
    settings file stem (``.gui_import`` -> ``.gui_importjob.star``). Clean patterns are
    globs relative to the job directory; harsh cleaning removes the gentle ones too.
    """

    directory: str
    type_label: str
    title: str
    options: tuple[JobOption, ...]
    run: RunFunction
    output_nodes: Callable[[Params], list[OutputNode]]
    label_for: Callable[[Params], str] | None = None
    validate: Callable[[Params], None] = _no_check
    continue_rule: ContinueRule = ContinueRule.RESTART
    continue_option: str | None = None
    gentle_clean: tuple[str, ...] = ()
    harsh_clean: tuple[str, ...] = ()
    hidden_name: str = ""
    summary: str = ""
    _by_name: dict[str, JobOption] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {option.name: option for option in self.options}
        if len(by_name) != len(self.options):
            raise ValueError(f"job type {self.type_label} declares an option twice")
        object.__setattr__(self, "_by_name", by_name)

    def option(self, name: str) -> JobOption:
        """The option called ``name``; ValueError naming the valid ones otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(f"{self.title} has no option --{name}; see `vitreo run {self.directory} --help`") from None

    def defaults(self) -> Params:
        """Every option at its default value."""
        return Params({option.name: option.default_text() for option in self.options})

    def params(self, values: dict[str, str] | None = None) -> Params:
        """Defaults overridden by ``values`` (each checked and normalised)."""
        merged = dict(self.defaults())
        for name, value in (values or {}).items():
            merged[name] = self.option(name).normalise(value)
        return Params(merged)

    def label(self, params: Params) -> str:
        """The specific type label of a job with these parameters."""
        return self.label_for(params) if self.label_for else self.type_label

    def input_nodes(self, params: Params) -> list[InputNode]:
        """The nodes named by this job's non-empty INPUT_NODE options."""
        return [InputNode(params.text(option.name), option.node_type)
                for option in self.options
                if option.kind is OptionKind.INPUT_NODE and params.text(option.name)]

    def matches(self, label: str) -> bool:
        """True for this type's general label or a more specific one."""
        return label == self.type_label or label.startswith(self.type_label + ".")


__all__ = ["OutputNode", "InputNode", "ContinueRule", "JobSpec", "RunFunction"]
