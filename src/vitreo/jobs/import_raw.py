"""Import raw movies or micrographs: ``movies.star`` / ``micrographs.star`` as relion_import writes them.

The output holds a ``data_optics`` table (rlnOpticsGroupName, rlnOpticsGroup,
rlnMtfFileName when given, rlnMicrographPixelSize for micrographs,
rlnMicrographOriginalPixelSize, rlnVoltage, rlnSphericalAberration, rlnAmplitudeContrast,
and rlnBeamTiltX/Y when |tilt x| + |tilt y| > 0.001 mrad) and a ``data_movies`` or
``data_micrographs`` table of file names (in glob order) with their optics group.

Continuing (on-the-fly processing) adds only files not listed before and still being
copied files are left for the next run (``settled_files``). A new optics group name
gets the next group number; a known one keeps its number.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs.context import JobContext
from vitreo.jobs.options import Params
from vitreo.jobs.settled_files import split_settled
from vitreo.jobs.star_tables import STAR_VERSION, append_rows


def raw_output_name(params: Params) -> str:
    """``movies.star`` for multi-frame movies, else ``micrographs.star``."""
    return "movies.star" if params.flag("is_multiframe") else "micrographs.star"


def _table_and_label(params: Params) -> tuple[str, str]:
    if params.flag("is_multiframe"):
        return "movies", "rlnMicrographMovieName"
    return "micrographs", "rlnMicrographName"


def optics_row(params: Params, group: int) -> dict[str, object]:
    """One ``data_optics`` row from the Import parameters, in RELION's column order."""
    row: dict[str, object] = {"rlnOpticsGroupName": params.text("optics_group_name"), "rlnOpticsGroup": group}
    if params.text("fn_mtf"):
        row["rlnMtfFileName"] = params.text("fn_mtf")
    if not params.flag("is_multiframe"):
        row["rlnMicrographPixelSize"] = params.number("angpix")
    row["rlnMicrographOriginalPixelSize"] = params.number("angpix")
    row["rlnVoltage"] = params.number("kV")
    row["rlnSphericalAberration"] = params.number("Cs")
    row["rlnAmplitudeContrast"] = params.number("Q0")
    tilt_x, tilt_y = params.number("beamtilt_x"), params.number("beamtilt_y")
    if abs(tilt_x) + abs(tilt_y) > 0.001:
        row["rlnBeamTiltX"], row["rlnBeamTiltY"] = tilt_x, tilt_y
    return row


def _optics_group(optics: Table | None, params: Params) -> tuple[Table, int]:
    """The optics table holding this job's group, and the group's number."""
    name = params.text("optics_group_name")
    if optics is not None and len(optics):
        names = list(optics["rlnOpticsGroupName"])
        if name in names:
            return optics, int(optics["rlnOpticsGroup"][names.index(name)])
        number = int(optics["rlnOpticsGroup"].max()) + 1
    else:
        number = 1
    return append_rows(optics, optics_row(params, number)), number


def _previous(target: Path, table_name: str) -> tuple[Table | None, Table | None]:
    blocks = read_star(target)
    optics, data = blocks.get("optics"), blocks.get(table_name)
    if not isinstance(optics, Table) or not isinstance(data, Table):
        raise InputError(target, f"expected data_optics and data_{table_name} tables to continue from")
    return optics, data


def matching_files(pattern: str) -> list[str]:
    """Regular files matching a shell wildcard, sorted as RELION's glob sorts them."""
    return sorted(path for path in glob.glob(pattern) if os.path.isfile(path))


def import_raw(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Write (or, continuing, extend) the job's movies.star or micrographs.star."""
    table_name, name_label = _table_and_label(params)
    target = job_dir / raw_output_name(params)
    pattern = params.text("fn_in_raw")
    optics, data = _previous(target, table_name) if ctx.is_continue and target.exists() else (None, None)
    known = set(data[name_label]) if data is not None else set()
    found = matching_files(pattern)
    if not found and not ctx.is_continue:
        raise InputError(pattern, "no files match this pattern (paths are relative to the project directory)")
    new = [path for path in found if path not in known]
    ready, waiting = split_settled(new)
    if waiting:
        ctx.log.info(" %d file(s) still being written, left for the next run: %s", len(waiting), ", ".join(waiting))
    if not ready:
        ctx.log.info(" no new files to import from %s (%d imported before)", pattern, len(known))
        return
    optics, group = _optics_group(optics, params)
    ctx.progress.start(f"importing {table_name}", len(ready))
    data = append_rows(data, [{name_label: path, "rlnOpticsGroup": group} for path in ready])
    write_star(target, {"optics": optics, table_name: data}, version=STAR_VERSION)
    ctx.progress.advance(len(ready))
    ctx.log.info(" Written %s with %d items (%d new items)", target, len(data), len(ready))


__all__ = ["raw_output_name", "optics_row", "matching_files", "import_raw"]
