"""The "Running" tab every RELION job has: threads, MPI and queue submission.

Defaults come from RELION's environment variables when a job is created:
RELION_QUEUE_USE (submit to queue?), RELION_QUEUE_NAME (default ``openmpi``),
RELION_QSUB_COMMAND (``sbatch``), RELION_QSUB_TEMPLATE (the submission script
template), RELION_MINIMUM_DEDICATED (1), RELION_QSUB_NRMPI / RELION_QSUB_NRTHREADS (1),
and RELION_QSUB_EXTRA_COUNT with RELION_QSUB_EXTRAi (label), RELION_QSUB_EXTRAi_DEFAULT
and RELION_QSUB_EXTRAi_HELP for extra template variables ``XXXextraiXXX``.

Jobs with MPI processes also get vitreo's Dask options (``dask``, ``dask_cluster``,
``dask_config``; defaults from VITREO_DASK, VITREO_DASK_CLUSTER and VITREO_DASK_CONFIG): their
processes are then Dask workers, see :mod:`vitreo.em.dask_cluster`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from vitreo.em.dask_cluster import CLUSTER_CLASSES, NO_CLUSTER
from vitreo.jobs.options import JobOption, OptionKind

TAB = "Running"
DEFAULT_QSUB_TEMPLATE = ""  # no site template is assumed: set RELION_QSUB_TEMPLATE


def _env(name: str, default: str) -> Callable[[], str]:
    return lambda: os.environ.get(name, default)


def _env_flag(name: str) -> Callable[[], str]:
    return lambda: "Yes" if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "y") else "No"


def running_options(has_mpi: bool, has_threads: bool) -> tuple[JobOption, ...]:
    """The Running-tab options of a job type, as RELION defines them."""
    options: list[JobOption] = []
    if has_mpi:
        options.append(JobOption("nr_mpi", "Number of MPI procs:", _env("RELION_QSUB_NRMPI", "1"), OptionKind.NUMBER,
                                 TAB, "Number of parallel processes (MPI ranks in RELION).", minimum=1,
                                 on_continue=True))
    if has_threads:
        options.append(JobOption("nr_threads", "Number of threads:", _env("RELION_QSUB_NRTHREADS", "1"),
                                 OptionKind.NUMBER, TAB, "Number of CPU threads per process.", minimum=1,
                                 on_continue=True))
    if has_mpi:
        options += dask_options()
    options += [
        JobOption("do_queue", "Submit to queue?", _env_flag("RELION_QUEUE_USE"), OptionKind.BOOLEAN, TAB,
                  "If Yes, the job is submitted to a queue with the submission command and template below; "
                  "otherwise it runs on this machine. Default: environment variable RELION_QUEUE_USE.",
                  on_continue=True),
        JobOption("queuename", "Queue name:", _env("RELION_QUEUE_NAME", "openmpi"), OptionKind.TEXT, TAB,
                  "Name of the queue (XXXqueueXXX). Default: environment variable RELION_QUEUE_NAME.",
                  on_continue=True),
        JobOption("qsub", "Queue submit command:", _env("RELION_QSUB_COMMAND", "sbatch"), OptionKind.TEXT, TAB,
                  "Command that submits the script, e.g. sbatch, qsub or bsub. "
                  "Default: environment variable RELION_QSUB_COMMAND.", on_continue=True),
        *_extra_options(),
        JobOption("qsubscript", "Standard submission script:", _env("RELION_QSUB_TEMPLATE", DEFAULT_QSUB_TEMPLATE),
                  OptionKind.FILE, TAB,
                  "Template of the submission script; XXXcommandXXX, XXXqueueXXX, XXXmpinodesXXX, XXXthreadsXXX, "
                  "XXXcoresXXX, XXXdedicatedXXX, XXXnodesXXX, XXXnameXXX, XXXerrfileXXX, XXXoutfileXXX and "
                  "XXXextraiXXX are replaced. Default: environment variable RELION_QSUB_TEMPLATE.",
                  pattern="Script Files (*.{csh,sh,bash,script})", on_continue=True),
        JobOption("min_dedicated", "Minimum dedicated cores per node:", _env("RELION_MINIMUM_DEDICATED", "1"),
                  OptionKind.NUMBER, TAB, "Minimum number of cores requested on each node (XXXdedicatedXXX); "
                  "XXXnodesXXX = ceil(cores / this). Default: environment variable RELION_MINIMUM_DEDICATED.",
                  minimum=1, on_continue=True),
        JobOption("other_args", "Additional arguments:", "", OptionKind.TEXT, TAB,
                  "Extra arguments, kept for RELION compatibility.", on_continue=True),
    ]
    return tuple(options)


def dask_options() -> list[JobOption]:
    """vitreo's Dask options: a scheduler or LocalCluster, or a queue cluster and its configuration."""
    return [
        JobOption("dask", "Dask scheduler:", _env("VITREO_DASK", ""), OptionKind.TEXT, TAB,
                  "Run the processes as Dask workers: 'local:N' starts a LocalCluster of N worker processes on "
                  "this machine ('local': nr_mpi of them); an address (tcp://host:8786) uses a running "
                  "dask.distributed scheduler and its workers. Empty: nr_mpi processes here, without Dask. Each "
                  "worker uses the number of threads above; GPU ids are shared out over the workers as RELION "
                  "does over its MPI ranks. Default: environment variable VITREO_DASK.", on_continue=True),
        JobOption("dask_cluster", "Dask queue cluster:", _env("VITREO_DASK_CLUSTER", NO_CLUSTER), OptionKind.RADIO,
                  TAB, "Start nr_mpi Dask workers as jobs of this queue system (dask-jobqueue), configured by the "
                  "file below; the job itself runs here (or through the submission script above) and sends them "
                  "its work. Default: environment variable VITREO_DASK_CLUSTER.",
                  choices=(NO_CLUSTER, *CLUSTER_CLASSES), on_continue=True),
        JobOption("dask_config", "Dask cluster configuration:", _env("VITREO_DASK_CONFIG", ""), OptionKind.FILE, TAB,
                  "A YAML file in dask-jobqueue's format, e.g. 'jobqueue: {slurm: {cores: 8, memory: 32GB, queue: "
                  "gpu, walltime: \"04:00:00\"}}'. Default: environment variable VITREO_DASK_CONFIG.",
                  pattern="YAML files (*.{yaml,yml})", on_continue=True),
    ]


def _extra_options() -> list[JobOption]:
    """``qsub_extraN`` options for each RELION_QSUB_EXTRAi set in the environment."""
    try:
        count = int(os.environ.get("RELION_QSUB_EXTRA_COUNT", "2"))
    except ValueError:
        count = 2
    extras = []
    for i in range(1, count + 1):
        label = os.environ.get(f"RELION_QSUB_EXTRA{i}")
        if label is None:
            continue
        help_text = os.environ.get(f"RELION_QSUB_EXTRA{i}_HELP",
                                   f"Extra option for the submission template: XXXextra{i}XXX is replaced by it.")
        extras.append(JobOption(f"qsub_extra{i}", label, _env(f"RELION_QSUB_EXTRA{i}_DEFAULT", ""), OptionKind.TEXT,
                                TAB, help_text, on_continue=True))
    return extras


__all__ = ["running_options", "dask_options", "TAB"]
