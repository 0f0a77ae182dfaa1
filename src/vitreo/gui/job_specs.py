"""Job types as JSON for the parameter panel: options grouped by tab, and the pipeline nodes
each input (Browse) field accepts."""

from __future__ import annotations

from typing import Any

from vitreo.jobs.node_types import accepts
from vitreo.jobs.options import JobOption, OptionKind
from vitreo.jobs.spec import JobSpec
from vitreo.pipeline.model import Pipeline


def type_summary(spec: JobSpec) -> dict[str, str]:
    """A job type as the job-type browser lists it."""
    return {"directory": spec.directory, "type_label": spec.type_label, "title": spec.title, "summary": spec.summary}


def option_json(option: JobOption) -> dict[str, Any]:
    """One parameter: RELION name, label, default, kind, help (tooltip) and limits."""
    return {"name": option.name, "label": option.label, "default": option.default_text(), "kind": option.kind.value,
            "help": option.help, "choices": list(option.choices), "node_type": option.node_type,
            "pattern": option.pattern, "minimum": option.minimum, "maximum": option.maximum,
            "on_continue": option.on_continue}


def matching_nodes(pipeline: Pipeline, node_type: str) -> list[str]:
    """Names of the pipeline's nodes an input of ``node_type`` accepts, newest first."""
    return [node.name for node in reversed(pipeline.nodes) if accepts(node_type, node.type_label)]


def spec_json(spec: JobSpec, pipeline: Pipeline | None) -> dict[str, Any]:
    """The parameter panel of a job type: tabs in order, each a list of options."""
    tabs: dict[str, list[dict[str, Any]]] = {}
    for option in spec.options:
        entry = option_json(option)
        if option.kind is OptionKind.INPUT_NODE:
            entry["nodes"] = matching_nodes(pipeline, option.node_type) if pipeline is not None else []
        tabs.setdefault(option.tab, []).append(entry)
    return {**type_summary(spec), "continue_rule": spec.continue_rule.value, "continue_option": spec.continue_option,
            "tabs": [{"name": name, "options": options} for name, options in tabs.items()]}


__all__ = ["type_summary", "option_json", "matching_nodes", "spec_json"]
