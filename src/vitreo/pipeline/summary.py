"""A readable summary of a project's jobs: status, alias, type, inputs and outputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vitreo.pipeline.model import Pipeline


@dataclass(frozen=True)
class JobSummary:
    """One job as ``vitreo project status`` shows it."""

    name: str
    alias: str | None
    type_label: str
    status: str
    inputs: list[str]
    outputs: list[str]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarise(pipeline: Pipeline) -> list[JobSummary]:
    """Every job of the pipeline, in order."""
    return [JobSummary(p.name, p.alias, p.type_label, p.status.value, pipeline.inputs_of(p.name),
                       pipeline.outputs_of(p.name)) for p in pipeline.processes]


def format_summary(jobs: list[JobSummary], counter: int) -> str:
    """Aligned text: one line per job, then its inputs and outputs indented."""
    if not jobs:
        return f"no jobs yet (the next job will be number {counter})\n"
    widths = [max(len(text) for text in column) for column in
              zip(*[(j.name, j.alias or "-", j.type_label, j.status) for j in jobs])]
    lines = []
    for job in jobs:
        cells = (job.name, job.alias or "-", job.type_label, job.status)
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip())
        lines += [f"    in:  {name}" for name in job.inputs]
        lines += [f"    out: {name}" for name in job.outputs]
    return "\n".join(lines) + "\n"


__all__ = ["JobSummary", "summarise", "format_summary"]
