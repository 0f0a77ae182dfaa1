"""Short command-line spellings of the common compute options, mapped onto RELION's job.star names.

``--j N`` nr_threads; ``--gpu IDS`` gpu_ids (RELION's "0" or "0:1:0:1"; a bare ``--gpu``: every
visible GPU) and use_gpu Yes; ``--preread`` do_preread_images; ``--pool N`` nr_pool;
``--scratch DIR`` scratch_dir; ``--mpi N`` nr_mpi; ``--dask-cluster`` and ``--dask-config``
dask_cluster and dask_config (``--dask`` is the option's own name). job.star keeps RELION's names.
"""

from __future__ import annotations

from collections.abc import Mapping

from vitreo.jobs.spec import JobSpec

ALIASES = {"j": "nr_threads", "mpi": "nr_mpi", "pool": "nr_pool", "scratch": "scratch_dir",
           "preread": "do_preread_images", "dask-cluster": "dask_cluster", "dask-config": "dask_config"}
BARE = "Yes"  # the value of an option given without one (see vitreo.cli.job_args)


def expand_aliases(spec: JobSpec, values: Mapping[str, str]) -> dict[str, str]:
    """``values`` with the short spellings replaced by the job type's option names; ValueError
    for a short spelling the job type has no option for."""
    names = {option.name for option in spec.options}
    expanded: dict[str, str] = {}
    for name, value in values.items():
        if name == "gpu":
            changes = {"gpu_ids": "" if value == BARE else value}
            if "use_gpu" in names:
                changes["use_gpu"] = "Yes"
        elif name in ALIASES:
            changes = {ALIASES[name]: value}
        else:
            expanded[name] = value
            continue
        missing = [option for option in changes if option not in names]
        if missing:
            raise ValueError(f"{spec.directory} jobs have no --{name} ({missing[0]})")
        expanded.update(changes)
    return expanded


__all__ = ["ALIASES", "expand_aliases"]
