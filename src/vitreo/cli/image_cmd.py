"""`vitreo image ...`: facts about MRC/MRCS/TIFF images, stacks, maps and movies, and the utilities
`project` (relion_project), `handle` (relion_image_handler) and `align-symmetry` (relion_align_symmetry)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vitreo.cli.image_align import align_symmetry_command
from vitreo.cli.image_handle import handle_command
from vitreo.cli.image_project import project_command
from vitreo.io.image_stats import ImageSummary, summarise_image

app = typer.Typer(help="Inspect, project, filter and align images, stacks and maps.", no_args_is_help=True)
app.command("project")(project_command)
app.command("handle")(handle_command)
app.command("align-symmetry")(align_symmetry_command)


def _format(summary: ImageSummary) -> str:
    nz, ny, nx = summary.shape
    kind = summary.kind
    size = f"{nx} x {ny} x {nz}"
    voxel = f"{summary.voxel_size:.4g} Å" if summary.voxel_size > 0 else "unset (0)"
    return (
        f"{summary.path}\n"
        f"  {kind}: {size} (x, y, {'n' if kind in ('stack', 'movie') else 'z'})\n"
        f"  mode: {summary.mode_description}\n"
        f"  voxel size: {voxel}\n"
        f"  min {summary.minimum:.6g}  max {summary.maximum:.6g}  "
        f"mean {summary.mean:.6g}  std {summary.std:.6g}"
    )


@app.command("info")
def info(files: Annotated[list[Path], typer.Argument(help="MRC, MRCS, map or TIFF files.")]) -> None:
    """Dimensions, data mode, voxel size and min/max/mean/std of each file."""
    for i, path in enumerate(files):
        if i:
            typer.echo("")
        typer.echo(_format(summarise_image(path)))
