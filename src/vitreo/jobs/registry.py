"""The registry of job types: which exist, and lookup by name or RELION label.

A job type lives in its own module in ``vitreo.jobs`` with a ``job_spec()`` function
returning its ``JobSpec``, and is listed in ``BUILTIN_JOB_MODULES`` once its algorithm
exists (no stubs). Specs are built at each lookup so that defaults taken from
environment variables (RELION_QSUB_COMMAND...) are current. Other packages may add job
types by naming their modules, comma-separated, in ``VITREO_JOB_MODULES``.
"""

from __future__ import annotations

import importlib
import os

from vitreo.jobs.spec import JobSpec

BUILTIN_JOB_MODULES: tuple[str, ...] = (
    "vitreo.jobs.import_job",
    "vitreo.jobs.motioncorr_job",
    "vitreo.jobs.ctffind_job",
    "vitreo.jobs.manualpick",
    "vitreo.jobs.autopick",
    "vitreo.jobs.extract",
    "vitreo.jobs.sort",
    "vitreo.jobs.class2d_job",
    "vitreo.jobs.select_job",
    "vitreo.jobs.maskcreate_job",
    "vitreo.jobs.postprocess_job",
    "vitreo.jobs.localres_job",
    "vitreo.jobs.initialmodel_job",
    "vitreo.jobs.movierefine_job",
    "vitreo.jobs.polish_job",
    "vitreo.jobs.class3d_job",
    "vitreo.jobs.refine3d_job",
)
PLUGIN_VARIABLE = "VITREO_JOB_MODULES"


def _module_names() -> list[str]:
    extra = [name.strip() for name in os.environ.get(PLUGIN_VARIABLE, "").split(",") if name.strip()]
    return list(dict.fromkeys([*BUILTIN_JOB_MODULES, *extra]))


def all_specs() -> list[JobSpec]:
    """Every registered job type, built-in first."""
    specs = []
    for module_name in _module_names():
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ValueError(f"cannot load job types from {module_name} ({PLUGIN_VARIABLE}): {err}") from None
        factory = getattr(module, "job_spec", None) or getattr(module, "job_specs", None)
        if factory is None:
            raise ValueError(f"{module_name} defines no job_spec() or job_specs()")
        built = factory()
        specs.extend(built if isinstance(built, (list, tuple)) else [built])
    return specs


def spec_for_label(label: str) -> JobSpec | None:
    """The job type a pipeline type label belongs to (most specific match), or None."""
    matches = [spec for spec in all_specs() if spec.matches(label)]
    return max(matches, key=lambda spec: len(spec.type_label)) if matches else None


def find_spec(name: str) -> JobSpec:
    """A job type by RELION label (``relion.import``), folder (``Import``) or title, any case."""
    by_label = spec_for_label(name)
    if by_label is not None:
        return by_label
    wanted = name.strip().strip("/").lower()
    found = [spec for spec in all_specs() if wanted in (spec.directory.lower(), spec.title.lower())]
    if len(found) == 1:
        return found[0]
    known = ", ".join(sorted({spec.directory for spec in all_specs()}))
    if found:
        labels = ", ".join(spec.type_label for spec in found)
        raise ValueError(f"job type {name!r} is ambiguous: use one of {labels}")
    raise ValueError(f"unknown job type {name!r}; available: {known}")


__all__ = ["BUILTIN_JOB_MODULES", "PLUGIN_VARIABLE", "all_specs", "spec_for_label", "find_spec"]
