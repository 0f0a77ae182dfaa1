"""What the job types that start from a pair of unfiltered half-maps share (PostProcess, LocalRes):
the ``fn_in`` option (one of the two half-maps; the other has half2 for half1 in its name), its
check, and reading both maps with the calibrated pixel size ``angpix``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.options import JobOption, OptionKind, Params

if TYPE_CHECKING:
    from vitreo.post.inputs import HalfMaps


def half_map_option() -> JobOption:
    """fn_in: one of the two unfiltered half-maps of a 3D auto-refine (tab I/O)."""
    return JobOption("fn_in", "One of the 2 unfiltered half-maps:", "", OptionKind.INPUT_NODE, "I/O",
                     "Provide one of the two unfiltered half-reconstructions that were output upon convergence of a 3D "
                     "auto-refine run.", node_type=node_types.HALFMAP, pattern="MRC map files (*half1*.mrc)")


def require_half_map(params: Params) -> None:
    """ValueError when fn_in is empty."""
    if not params.text("fn_in"):
        raise ValueError("give one of the two unfiltered half-maps (--fn_in)")


def read_input_half_maps(params: Params, ctx: JobContext) -> HalfMaps:
    """Both half-maps of fn_in at the pixel size angpix (Å; negative: the header's), logging the thread count."""
    from vitreo.post.inputs import read_half_maps

    ctx.log.info(" Using %d CPU thread(s)", ctx.backend.threads)
    return read_half_maps(params.text("fn_in"), params.number("angpix"))


__all__ = ["half_map_option", "require_half_map", "read_input_half_maps"]
