"""job.star: a job's type label, continue flag and every parameter, as RELION 4/5 write it.

Blocks: ``job`` (rlnJobTypeLabel, rlnJobIsContinue, rlnJobIsTomo) and
``joboptions_values`` (rlnJobOptionVariable, rlnJobOptionValue) with the variables in
RELION's (ASCII) order, after ``# version 50001``. RELION's GUI also keeps the last
settings of each job type in a hidden ``.gui_<type>job.star`` in the project directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star

JOB_STAR = "job.star"
JOB_STAR_VERSION = 50001


@dataclass(frozen=True)
class JobStar:
    """The contents of a job.star file."""

    type_label: str
    is_continue: bool
    is_tomo: bool
    values: dict[str, str]


def write_job_star(path: str | os.PathLike[str], type_label: str, values: Mapping[str, str],
                   is_continue: bool = False, is_tomo: bool = False) -> None:
    """Write a job.star atomically."""
    names = sorted(values)
    write_star(path, {
        "job": {"rlnJobTypeLabel": type_label, "rlnJobIsContinue": is_continue, "rlnJobIsTomo": is_tomo},
        "joboptions_values": Table({"rlnJobOptionVariable": names,
                                    "rlnJobOptionValue": [str(values[name]) for name in names]}),
    }, version=JOB_STAR_VERSION)


def read_job_star(path: str | os.PathLike[str]) -> JobStar:
    """Read a job.star (RELION 3.1, 4 or 5)."""
    blocks = read_star(path)
    job = blocks.get("job")
    if not isinstance(job, dict) or "rlnJobTypeLabel" not in job:
        raise InputError(path, "not a job.star file (no data_job with rlnJobTypeLabel)")
    table = blocks.get("joboptions_values")
    values: dict[str, str] = {}
    if isinstance(table, Table) and len(table):
        values = {str(k): str(v) for k, v in zip(table["rlnJobOptionVariable"], table["rlnJobOptionValue"])}
    return JobStar(str(job["rlnJobTypeLabel"]), bool(job.get("rlnJobIsContinue", False)),
                   bool(job.get("rlnJobIsTomo", False)), values)


def set_continue_flag(path: Path, is_continue: bool) -> None:
    """Rewrite a job.star with another continue flag."""
    job = read_job_star(path)
    write_job_star(path, job.type_label, job.values, is_continue, job.is_tomo)


def hidden_settings_path(root: Path, hidden_name: str) -> Path | None:
    """RELION GUI's ``.gui_<type>job.star`` for a job type, or None when it has none."""
    return root / f"{hidden_name}job.star" if hidden_name else None


__all__ = ["JOB_STAR", "JobStar", "write_job_star", "read_job_star", "set_continue_flag", "hidden_settings_path"]
