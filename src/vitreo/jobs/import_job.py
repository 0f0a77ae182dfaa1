"""The Import job type (RELION ``relion.import``): bring raw data and other files into the project.

Raw movies or micrographs (``do_raw``) become ``movies.star``/``micrographs.star`` with
their optics group (``import_raw``); other node types (``do_other``) are checked and
copied (``import_other``). Type labels: ``relion.import.movies`` for raw data,
``relion.import.other`` otherwise. Continuing adds only files that are new and
completely copied, which is what on-the-fly processing needs; scheduled Import jobs
start as continuations. Like RELION, Import has nothing to clean.
"""

from __future__ import annotations

import re
from pathlib import Path

from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.import_other import NODE_TYPE_CHOICES, check_other, import_other, other_output_nodes
from vitreo.jobs.import_raw import import_raw, raw_output_name
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode

RAW_TAB = "Movies/mics"
OTHER_TAB = "Others"
_OPTICS_NAME = re.compile(r"[A-Za-z0-9_-]+|\$\$\w+")


def _options() -> tuple[JobOption, ...]:
    number, boolean = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        JobOption("do_raw", "Import raw movies/micrographs?", "Yes", boolean, RAW_TAB,
                  "Set this to Yes if you plan to import raw movies or micrographs."),
        JobOption("fn_in_raw", "Raw input files:", "Micrographs/*.tif", OptionKind.FILE, RAW_TAB,
                  "A wildcard that selects all raw movies or micrographs to import, relative to the project "
                  "directory (make a symbolic link to import files from elsewhere).",
                  pattern="Movie or Image (*.{mrc,mrcs,tif,tiff,eer})"),
        JobOption("is_multiframe", "Are these multi-frame movies?", "Yes", boolean, RAW_TAB,
                  "Yes for multi-frame movies, No for single-frame micrographs."),
        JobOption("optics_group_name", "Optics group name:", "opticsGroup1", OptionKind.TEXT, RAW_TAB,
                  "Name of this optics group. Each group of movies/micrographs with different optics "
                  "(for CTF refinement) needs a unique name."),
        JobOption("fn_mtf", "MTF of the detector:", "", OptionKind.FILE, RAW_TAB,
                  "STAR file with the detector's MTF, used in refinement; leave empty if unknown.",
                  pattern="STAR Files (*.star)"),
        JobOption("angpix", "Pixel size (Angstrom):", "1.4", number, RAW_TAB, "Pixel size in Ångström.",
                  minimum=0.5, maximum=3.0),
        JobOption("kV", "Voltage (kV):", "300", number, RAW_TAB, "Acceleration voltage of the microscope (kV).",
                  minimum=50, maximum=500),
        JobOption("Cs", "Spherical aberration (mm):", "2.7", number, RAW_TAB,
                  "Spherical aberration (mm): 2.7 for Titan/Talos and most CRYO-ARMs, 2.0 for Polara, "
                  "1.4 for some CRYO-ARMs, 0.01 with a Cs corrector.", minimum=0, maximum=8),
        JobOption("Q0", "Amplitude contrast:", "0.1", number, RAW_TAB,
                  "Fraction of amplitude contrast; about 0.1 often works better than lower values.",
                  minimum=0, maximum=0.3),
        JobOption("beamtilt_x", "Beamtilt in X (mrad):", "0", number, RAW_TAB,
                  "Known beam tilt in X (mrad); zero if unknown.", minimum=-1, maximum=1),
        JobOption("beamtilt_y", "Beamtilt in Y (mrad):", "0", number, RAW_TAB,
                  "Known beam tilt in Y (mrad); zero if unknown.", minimum=-1, maximum=1),
        JobOption("do_other", "Import other node types?", "No", boolean, OTHER_TAB,
                  "Set this to Yes to import anything other than movies or micrographs."),
        JobOption("fn_in_other", "Input file:", "ref.mrc", OptionKind.FILE, OTHER_TAB,
                  "The file to import. For coordinates give a wildcard with the * just before the "
                  "coordinate-file suffix (Movies/*_pick.star or Movies/*.box), next to micrographs with the "
                  "same root names. Particles, references, micrograph STAR files, maps and masks: one file.",
                  pattern="Input file (*.*)"),
        JobOption("node_type", "Node type:", NODE_TYPE_CHOICES[0], OptionKind.RADIO, OTHER_TAB,
                  "What kind of node the file is.", choices=NODE_TYPE_CHOICES),
        JobOption("optics_group_particles", "Rename optics group for particles:", "", OptionKind.TEXT, OTHER_TAB,
                  "Only for a particles STAR file with a single optics group: rename that group to this."),
        *running_options(has_mpi=False, has_threads=False),
    )


def _validate(params: Params) -> None:
    raw, other = params.flag("do_raw"), params.flag("do_other")
    if raw == other:
        raise ValueError("set exactly one of --do_raw Yes (movies/micrographs) and --do_other Yes (other files)")
    if other:
        check_other(params)
        return
    pattern = params.text("fn_in_raw")
    if not pattern or pattern.startswith("/") or ".." in Path(pattern).parts:
        raise ValueError(f"--fn_in_raw must be a wildcard relative to the project directory, not {pattern!r}; "
                         "link other folders into the project")
    if not _OPTICS_NAME.fullmatch(params.text("optics_group_name")):
        raise ValueError("an optics group name may contain only letters, digits, - and _")
    for name in ("angpix", "kV"):
        if params.number(name) <= 0:
            raise ValueError(f"--{name} must be positive")


def _label(params: Params) -> str:
    return "relion.import.movies" if params.flag("do_raw") else "relion.import.other"


def _output_nodes(params: Params) -> list[OutputNode]:
    if params.flag("do_raw"):
        label = node_types.IMPORT_MOVIES if params.flag("is_multiframe") else node_types.IMPORT_MICROGRAPHS
        return [OutputNode(raw_output_name(params), label)]
    return other_output_nodes(params)


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Import raw data or other files into ``job_dir``."""
    if params.flag("do_raw"):
        import_raw(job_dir, params, ctx)
    else:
        import_other(job_dir, params, ctx)


def job_spec() -> JobSpec:
    """The Import job type."""
    return JobSpec(
        directory="Import",
        type_label="relion.import",
        title="Import",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        label_for=_label,
        validate=_validate,
        continue_rule=ContinueRule.NEW_INPUTS_ONLY,
        hidden_name=".gui_import",
        summary="Import movies, micrographs, coordinates, particles, references, maps, masks or half-maps.",
    )


__all__ = ["job_spec", "run"]
