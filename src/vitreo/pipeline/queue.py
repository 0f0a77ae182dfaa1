"""Submit a job to a cluster queue through a RELION-style submission script template.

The template (``qsubscript``, default RELION_QSUB_TEMPLATE) is copied to
``<job>/run_submit.script`` with RELION's placeholders replaced: XXXmpinodesXXX (MPI
processes), XXXthreadsXXX, XXXcoresXXX (= mpi x threads), XXXdedicatedXXX (minimum cores
per node), XXXnodesXXX (= ceil(cores / dedicated)), XXXnameXXX (the job directory,
``Import/job001/``), XXXerrfileXXX and XXXoutfileXXX (its run.err and run.out),
XXXqueueXXX, XXXextra1XXX... (the ``qsub_extraN`` options) and XXXcommandXXX (the line
running the job). It is then given to the submit command (``qsub``, e.g. sbatch).
"""

from __future__ import annotations

import math
import os
import shlex
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.jobs.options import Params

SUBMIT_SCRIPT = "run_submit.script"


@dataclass(frozen=True)
class QueueRequest:
    """What the template's placeholders stand for."""

    job_name: str
    command: str
    queue: str
    mpi: int = 1
    threads: int = 1
    min_dedicated: int = 1
    extras: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, job_name: str, command: str, params: Params) -> QueueRequest:
        extras = {int(name[len("qsub_extra"):]): params[name] for name in params
                  if name.startswith("qsub_extra") and name[len("qsub_extra"):].isdigit()}
        return cls(job_name, command, params.text("queuename"),
                   params.integer("nr_mpi") if "nr_mpi" in params else 1,
                   params.integer("nr_threads") if "nr_threads" in params else 1,
                   max(params.integer("min_dedicated"), 1), extras)

    def replacements(self) -> dict[str, str]:
        cores = self.mpi * self.threads
        values = {
            "XXXmpinodesXXX": str(self.mpi), "XXXthreadsXXX": str(self.threads), "XXXcoresXXX": str(cores),
            "XXXdedicatedXXX": str(self.min_dedicated), "XXXnodesXXX": str(math.ceil(cores / self.min_dedicated)),
            "XXXnameXXX": self.job_name, "XXXerrfileXXX": self.job_name + "run.err",
            "XXXoutfileXXX": self.job_name + "run.out", "XXXqueueXXX": self.queue,
        }
        values.update({f"XXXextra{i}XXX": value for i, value in self.extras.items()})
        return values


def fill_template(template: str, request: QueueRequest) -> str:
    """The submission script: every placeholder replaced, XXXcommandXXX by the job's command."""
    text = template
    for placeholder, value in request.replacements().items():
        text = text.replace(placeholder, value)
    return text.replace("XXXcommandXXX", request.command)


def submit(root: Path, job_name: str, command: list[str], params: Params) -> str:
    """Write the job's submission script and submit it; returns what the submit command printed."""
    template_path = params.text("qsubscript")
    if not template_path:
        raise ValueError("no submission script template: give --qsubscript or set RELION_QSUB_TEMPLATE")
    template = root / template_path
    try:
        text = template.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(template, f"cannot read the submission template: {err.strerror or err}") from None
    request = QueueRequest.from_params(job_name, shlex.join(command), params)
    script = root / job_name / SUBMIT_SCRIPT
    script.write_text(fill_template(text, request), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
    submit_command = [*shlex.split(params.text("qsub")), os.path.join(job_name, SUBMIT_SCRIPT)]
    try:
        result = subprocess.run(submit_command, cwd=root, capture_output=True, text=True, timeout=300)
    except OSError as err:
        raise ValueError(f"cannot run the submit command {params.text('qsub')!r}: {err.strerror or err}") from None
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise ValueError(f"{shlex.join(submit_command)} failed (exit {result.returncode})"
                         + (f": {message[-1]}" if message else ""))
    return result.stdout


__all__ = ["SUBMIT_SCRIPT", "QueueRequest", "fill_template", "submit"]
