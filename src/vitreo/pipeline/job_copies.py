"""Copies of the pipeline kept in each job directory, as RELION keeps them.

``<job>/job_pipeline.star`` is the job's own part of the pipeline (its process, input
and output edges and their nodes); ``<job>/default_pipeline.star`` is the whole
pipeline as it was when the job last changed. ``vitreo project recover`` rebuilds a
damaged default_pipeline.star from them.
"""

from __future__ import annotations

from pathlib import Path

from vitreo.pipeline.model import Pipeline
from vitreo.pipeline.pipeline_star import write_pipeline

JOB_PIPELINE = "job_pipeline.star"
PIPELINE_COPY = "default_pipeline.star"


def job_part(pipeline: Pipeline, process: str) -> Pipeline:
    """The pipeline of one job: its process, edges and the nodes they name."""
    part = Pipeline(job_counter=pipeline.job_counter)
    part.processes = [p for p in pipeline.processes if p.name == process]
    part.input_edges = [e for e in pipeline.input_edges if e[1] == process]
    part.output_edges = [e for e in pipeline.output_edges if e[0] == process]
    named = {n for n, _ in part.input_edges} | {n for _, n in part.output_edges}
    part.nodes = [n for n in pipeline.nodes if n.name in named]
    return part


def write_job_copies(root: Path, pipeline: Pipeline, process: str) -> None:
    """Write the job's own pipeline and a copy of the whole one into its directory."""
    job_dir = root / process
    if job_dir.is_dir():
        write_pipeline(job_dir / JOB_PIPELINE, job_part(pipeline, process))
        write_pipeline(job_dir / PIPELINE_COPY, pipeline)


__all__ = ["JOB_PIPELINE", "PIPELINE_COPY", "job_part", "write_job_copies"]
