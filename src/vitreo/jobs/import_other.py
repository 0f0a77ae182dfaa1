"""Import other node types, as relion_import does: coordinates, particles, references,
micrograph STAR files, 3D maps, masks and unfiltered half-maps.

- Coordinates (``fn_in_other`` a wildcard such as ``Movies/*_pick.star``; the suffix is
  what follows the last ``*``): every matching file is checked and copied into the job
  directory at the place RELION's coordinate rule looks for it (``io.coords``), with a
  leading ``<Type>/jobNNN/`` dropped: ``Movies/m1_pick.star`` ->
  ``Import/job003/Movies/m1_pick.star``. The output node ``coords_suffix<suffix>``
  holds the micrograph wildcard (``Movies/*.mrc``) as RELION writes it.
- Particles: the STAR file is converted to the RELION 3.1+ layout when older, its
  single optics group optionally renamed (``optics_group_particles``), and written
  under its own name.
- Everything else (one file, no wildcard) is checked (MRC header or STAR syntax) and
  copied under its own name; a half-map brings its other half (half1 <-> half2).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from vitreo.io.atomic import atomic_path, write_text_atomic
from vitreo.io.coords import coordinate_file_for, find_coordinate_files, read_coordinates
from vitreo.io.errors import InputError
from vitreo.io.mrc import read_header_info
from vitreo.io.star import Table, read_star, write_star
from vitreo.io.star_convert import convert_to_relion31, is_pre31, table_kind
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.import_raw import matching_files
from vitreo.jobs.options import Params
from vitreo.jobs.settled_files import split_settled
from vitreo.jobs.spec import OutputNode
from vitreo.jobs.star_tables import STAR_VERSION

COORDINATES = "Particle coordinates (*.box, *_pick.star)"
PARTICLES = "Particles STAR file (.star)"
REFERENCES_2D = "Multiple (2D or 3D) references (.star or .mrcs)"
MICROGRAPHS_STAR = "Micrographs STAR file (.star)"
MAP_3D = "3D reference (.mrc)"
MASK_3D = "3D mask (.mrc)"
HALF_MAP = "Unfiltered half-map (unfil.mrc)"
NODE_TYPE_CHOICES = (COORDINATES, PARTICLES, REFERENCES_2D, MICROGRAPHS_STAR, MAP_3D, MASK_3D, HALF_MAP)

NODE_LABELS = {
    COORDINATES: node_types.IMPORT_COORDINATES,
    PARTICLES: node_types.IMPORT_PARTICLES,
    REFERENCES_2D: node_types.IMPORT_IMAGES_2D,
    MICROGRAPHS_STAR: node_types.IMPORT_MICROGRAPHS,
    MAP_3D: node_types.IMPORT_MAP,
    MASK_3D: node_types.IMPORT_MASK,
    HALF_MAP: node_types.IMPORT_HALFMAP,
}
SUFFIX_FILE_PREFIX = "coords_suffix"
_WILDCARD = re.compile(r"[*?\[]")


def coordinate_suffix(pattern: str) -> str:
    """The coordinate-file suffix of a wildcard: what follows its last ``*``."""
    if "*" not in pattern:
        raise ValueError(f"coordinate files need a wildcard before their suffix, e.g. Movies/*_pick.star, "
                         f"not {pattern!r}")
    suffix = pattern.rsplit("*", 1)[1]
    if not suffix or "/" in suffix:
        raise ValueError(f"no coordinate-file suffix after the last * in {pattern!r}")
    return suffix


def other_half(path: str) -> str:
    """The other half-map's name: the first ``half1`` becomes ``half2`` or vice versa."""
    for this, that in (("half1", "half2"), ("half2", "half1")):
        if this in path:
            return path.replace(this, that, 1)
    raise ValueError(f"a half-map name must contain half1 or half2: {path!r}")


def check_other(params: Params) -> None:
    """Raise ValueError for parameters relion_import would refuse."""
    choice, source = params.text("node_type"), params.text("fn_in_other")
    if not source:
        raise ValueError("give the file to import with --fn_in_other")
    if choice == COORDINATES:
        coordinate_suffix(source)
        if ".." in Path(source).parts:
            raise ValueError(f"coordinate files must be inside the project directory: {source!r}")
        return
    if _WILDCARD.search(source):
        raise ValueError(f"only one {choice} file can be imported at a time; {source!r} is a wildcard")
    if choice == HALF_MAP:
        other_half(source)
    group = params.text("optics_group_particles")
    if choice == PARTICLES and group and not re.fullmatch(r"[A-Za-z0-9_-]+", group):
        raise ValueError(f"an optics group name may contain only letters, digits, - and _: {group!r}")


def other_output_nodes(params: Params) -> list[OutputNode]:
    """The nodes an import of other node types produces."""
    choice, source = params.text("node_type"), params.text("fn_in_other")
    label = NODE_LABELS[choice]
    if choice == COORDINATES:
        return [OutputNode(SUFFIX_FILE_PREFIX + coordinate_suffix(source), label)]
    nodes = [OutputNode(os.path.basename(source), label)]
    if choice == HALF_MAP:
        nodes.append(OutputNode(os.path.basename(other_half(source)), label))
    return nodes


def import_other(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Import the file(s) named by ``fn_in_other`` as ``node_type``."""
    choice, source = params.text("node_type"), params.text("fn_in_other")
    if choice == COORDINATES:
        import_coordinates(job_dir, source, ctx)
    elif choice == PARTICLES:
        import_particles(job_dir, source, params.text("optics_group_particles"), ctx)
    else:
        sources = [source, other_half(source)] if choice == HALF_MAP else [source]
        for path in sources:
            _check_file(path, choice)
        for path in sources:
            _copy(Path(path), job_dir / os.path.basename(path))
            ctx.log.info(" Imported %s as %s", path, choice)


def import_coordinates(job_dir: Path, pattern: str, ctx: JobContext) -> None:
    """Copy coordinate files (continuing: only new ones) and write the suffix node."""
    suffix = coordinate_suffix(pattern)
    found = matching_files(pattern)
    if not found and not ctx.is_continue:
        raise InputError(pattern, "no coordinate files match this pattern")
    targets = {path: coordinate_file_for(path[: -len(suffix)].lstrip("/") + ".mrc", suffix, job_dir)
               for path in found}
    new = [path for path in found if not (ctx.is_continue and targets[path].exists())]
    ready, waiting = split_settled(new)
    if waiting:
        ctx.log.info(" %d coordinate file(s) still being written, left for the next run", len(waiting))
    ctx.progress.start("importing coordinates", len(ready))
    particles = 0
    for path in ready:
        ctx.check_abort()
        particles += len(read_coordinates(path))
        _copy(Path(path), targets[path])
        ctx.progress.advance()
    write_text_atomic(job_dir / (SUFFIX_FILE_PREFIX + suffix), pattern.rsplit("*", 1)[0] + "*.mrc\n")
    ctx.log.info(" Imported %d coordinate files (%d particles) with suffix %s", len(ready), particles, suffix)


def coordinates_for(micrographs: list[str], suffix_node: str | os.PathLike[str]) -> dict[str, Path]:
    """``{micrograph: coordinate file}`` for the micrographs an imported coordinates node
    has picks for (``Import/job003/coords_suffix_pick.star``)."""
    node = Path(suffix_node)
    if not node.name.startswith(SUFFIX_FILE_PREFIX):
        raise ValueError(f"{node} is not an imported coordinates node ({SUFFIX_FILE_PREFIX}<suffix>)")
    return find_coordinate_files(micrographs, node.parent, node.name[len(SUFFIX_FILE_PREFIX):])


def import_particles(job_dir: Path, source: str, optics_group_name: str, ctx: JobContext) -> None:
    """Write the particles STAR file in RELION 3.1+ layout, optionally renaming its optics group."""
    blocks = read_star(source)
    if is_pre31(blocks):
        blocks = convert_to_relion31(blocks, project_dir=".")
        ctx.log.info(" Converted %s from the RELION 3.0 layout", source)
    particles = blocks.get("particles")
    if not isinstance(particles, Table) or table_kind(particles) != "particles":
        raise InputError(source, "no data_particles table with rlnImageName")
    if optics_group_name:
        optics = blocks.get("optics")
        if not isinstance(optics, Table) or len(optics) != 1:
            raise InputError(source, "the optics group can be renamed only when the file has exactly one")
        optics["rlnOpticsGroupName"] = [optics_group_name]
    write_star(job_dir / os.path.basename(source), blocks, version=STAR_VERSION)
    ctx.log.info(" Imported %d particles from %s", len(particles), source)


def _check_file(path: str, choice: str) -> None:
    """Raise InputError when ``path`` is missing or not readable as ``choice``."""
    if not os.path.isfile(path):
        raise InputError(path, "file not found")
    if path.lower().endswith(".star"):
        blocks = read_star(path)
        if choice == MICROGRAPHS_STAR and not any(
                isinstance(block, Table) and "rlnMicrographName" in block for block in blocks.values()):
            raise InputError(path, "no table with rlnMicrographName")
    else:
        info = read_header_info(path)
        if choice in (MAP_3D, MASK_3D, HALF_MAP) and not info.is_volume:
            raise InputError(path, f"a {choice} must be a 3D volume, found {info.nz} section(s) of "
                                   f"{info.ny} x {info.nx}")


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


__all__ = ["NODE_TYPE_CHOICES", "COORDINATES", "PARTICLES", "REFERENCES_2D", "MICROGRAPHS_STAR", "MAP_3D",
           "MASK_3D", "HALF_MAP", "coordinate_suffix", "other_half", "check_other", "other_output_nodes",
           "import_other", "import_coordinates", "coordinates_for", "import_particles"]
