"""`vitreo image align-symmetry`: rotate a map so that its symmetry axes follow RELION's conventions."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import typer


def align_symmetry_command(
    map_path: Annotated[Path, typer.Argument(metavar="MAP", help="Input map (.mrc).")],
    output: Annotated[Path, typer.Option("-o", "--o", help="Output map (.mrc).")],
    sym: Annotated[str, typer.Option("--sym", help="Target point group, e.g. C4, D2, T, O, I.")],
    centre: Annotated[
        bool, typer.Option("--centre/--keep-centre", help="Move the centre of mass (positive density) to the box centre first.")
    ] = False,
    angpix: Annotated[float, typer.Option("--angpix", help="Pixel size (Å); default: the map's header.")] = 0.0,
    box_size: Annotated[
        int, typer.Option("--box-size", "--box_size", help="Box (pixels) of the fine search; the coarse one uses 24.")
    ] = 64,
    healpix_order: Annotated[int, typer.Option("--healpix-order", help="HEALPix order of the coarse grid (1: 30°).")] = 1,
) -> None:
    """Find the rotation that makes the map symmetric under RELION's operators for --sym, and apply it.

    Cn: the n-fold on z; Dn: n-fold on z, a 2-fold on x; T, O, I as RELION. The result is unique only
    up to what keeps those axes (e.g. any rotation about z for Cn, an axis permutation for D2).
    """
    import torch

    from vitreo.cli.image_io import check_symmetry, read_map
    from vitreo.em.geometry import matrix_to_euler
    from vitreo.em.image_ops import centre_by_mass, rotate_volume
    from vitreo.em.symmetry_alignment import align_symmetry
    from vitreo.io.mrc import write_mrc

    group = check_symmetry(sym)
    if box_size < 8 or box_size % 2:
        raise ValueError(f"--box-size must be an even number of at least 8 pixels, not {box_size}")
    image = read_map(map_path, angpix or None)
    volume = torch.from_numpy(image.data).double()
    if centre:
        volume, moved = centre_by_mass(volume, 3)
        typer.echo(f"centred: moved by ({', '.join(f'{v:.2f}' for v in moved.tolist())}) pixels (x, y, z)")

    def progress(line: str) -> None:
        sys.stderr.write(f"{line}\n")

    result = align_symmetry(volume, group, fine_box=box_size, coarse_order=healpix_order, progress=progress)
    rotated = rotate_volume(volume, result.rotation, oversampling=2 if volume.shape[-1] <= 320 else 1)
    rot, tilt, psi = (math.degrees(float(a)) for a in matrix_to_euler(result.rotation))
    write_mrc(output, rotated.float().numpy(), image.pixel_size)
    typer.echo(f"rotation applied: rot= {rot:.2f} tilt= {tilt:.2f} psi= {psi:.2f} (symmetry score {result.score:.4f})")
    typer.echo(f"wrote {output}")
