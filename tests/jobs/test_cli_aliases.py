"""The short compute options of the command line map onto RELION's job.star names (issue 14)."""

from __future__ import annotations

import pytest

from vitreo.cli.job_args import parse_job_args
from vitreo.jobs.cli_aliases import expand_aliases
from vitreo.jobs.registry import find_spec


def test_ml_job_options() -> None:
    args = ["--j", "2", "--gpu", "0:1:0:1", "--preread", "--pool", "30", "--scratch", "/ssd", "--mpi", "3",
            "--dask", "local:2", "--dask-cluster", "slurm", "--dask-config", "slurm.yaml"]
    values = expand_aliases(find_spec("Class2D"), parse_job_args(args))
    assert values == {"nr_threads": "2", "gpu_ids": "0:1:0:1", "use_gpu": "Yes", "do_preread_images": "Yes",
                      "nr_pool": "30", "scratch_dir": "/ssd", "nr_mpi": "3", "dask": "local:2",
                      "dask_cluster": "slurm", "dask_config": "slurm.yaml"}
    spec = find_spec("Class2D")
    params = spec.params(values)  # every name is an option of the job type, with a valid value
    assert params.text("dask_cluster") == "slurm" and params.integer("nr_mpi") == 3


def test_bare_gpu_means_every_gpu_and_jobs_without_use_gpu_get_ids_only() -> None:
    assert expand_aliases(find_spec("MotionCorr"), parse_job_args(["--gpu"])) == {"gpu_ids": ""}
    assert expand_aliases(find_spec("Refine3D"), {"fn_img": "p.star"}) == {"fn_img": "p.star"}


def test_options_a_job_type_lacks_are_refused() -> None:
    with pytest.raises(ValueError, match="Import jobs have no --j"):
        expand_aliases(find_spec("Import"), {"j": "2"})
    with pytest.raises(ValueError, match="CtfFind jobs have no --preread"):
        expand_aliases(find_spec("CtfFind"), {"preread": "Yes"})
    with pytest.raises(ValueError, match="dask_cluster"):
        find_spec("Class2D").params({"dask_cluster": "condor"})
