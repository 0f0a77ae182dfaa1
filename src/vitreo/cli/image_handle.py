"""`vitreo image handle`: filter, rescale, mirror, symmetrise, combine, average and summarise maps and images,
like relion_image_handler.

Operations run in relion_image_handler's order: image arithmetic (--multiply/--add/--subtract),
--bfactor, --lowpass, --highpass, --flip-x, --shift-com, --rescale-angpix, --new-box, --sym, then
--invert-contrast. --average first replaces a stack (or the images of a STAR file) by its mean.
Inputs: a map or image (.mrc), a stack (.mrcs) or a STAR file of images (rlnImageName); a STAR
input writes a stack OUT (.mrcs) and a STAR file beside it that points to the new images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from vitreo.cli.image_io import ImageData, check_symmetry, read_image_file, require_even_box, require_pixel_size
from vitreo.io.errors import InputError

CHUNK_IMAGES = 1024  # images processed at once


@dataclass(frozen=True)
class HandleOptions:
    """The per-image operations asked for (None / False: not asked)."""

    lowpass: float | None = None
    highpass: float | None = None
    edge_width: float = 2.0
    bfactor: float | None = None
    rescale_angpix: float | None = None
    new_box: int | None = None
    sym: str | None = None
    flip_x: bool = False
    shift_com: bool = False
    invert_contrast: bool = False
    operand: tuple[str, np.ndarray] | None = None  # ("multiply" | "add" | "subtract", array)

    @property
    def needs_pixel_size(self) -> str | None:
        """The first option that needs the pixel size, or None."""
        for name, value in (("--lowpass", self.lowpass), ("--highpass", self.highpass),
                            ("--bfactor", self.bfactor), ("--rescale-angpix", self.rescale_angpix)):
            if value is not None:
                return name
        return None


def apply_operations(data: Any, ndim: int, pixel_size: float, opts: HandleOptions) -> tuple[Any, float]:
    """Apply ``opts`` to a tensor (..., *box) with ``ndim`` spatial axes; returns (result, new pixel size in Å)."""
    import torch

    from vitreo.em import filters, image_ops
    from vitreo.em.symmetry import symmetrise_volume

    x = data.double()
    if opts.operand is not None:
        kind, array = opts.operand
        other = torch.from_numpy(array).to(x)
        x = {"multiply": x * other, "add": x + other, "subtract": x - other}[kind]
    if opts.bfactor is not None:
        x = filters.apply_bfactor(x, opts.bfactor, pixel_size, ndim=ndim)
    if opts.lowpass is not None:
        x = filters.lowpass(x, opts.lowpass, pixel_size, edge_px=opts.edge_width, ndim=ndim)
    if opts.highpass is not None:
        x = filters.highpass(x, opts.highpass, pixel_size, edge_px=opts.edge_width, ndim=ndim)
    if opts.flip_x:
        x = image_ops.flip_x(x)
    if opts.shift_com:
        x, _ = image_ops.centre_by_mass(x, ndim)
    if opts.rescale_angpix is not None:
        size = image_ops.rescaled_box(x.shape[-1], pixel_size, opts.rescale_angpix)
        pixel_size = pixel_size * x.shape[-1] / size
        x = image_ops.rescale_box(x, size, ndim)
    if opts.new_box is not None:
        x = image_ops.window(x, opts.new_box, ndim)
    if opts.sym is not None:
        x = symmetrise_volume(x, opts.sym)
    if opts.invert_contrast:
        x = -x
    return x.to(torch.float32), pixel_size


def _read_input(path: Path, angpix: float | None) -> tuple[ImageData, Any]:
    """The images of a map/image/stack file or of a STAR file's rlnImageName column, and the STAR blocks (or None)."""
    if path.suffix.lower() != ".star":
        return read_image_file(path, angpix), None
    from vitreo.io.image_refs import read_images
    from vitreo.io.star import Table, read_star

    blocks = read_star(path)
    table = next((b for b in blocks.values() if isinstance(b, Table) and "rlnImageName" in b), None)
    if table is None or len(table) == 0:
        raise InputError(path, "no rlnImageName column with images")
    pixel_size = angpix or 0.0
    optics = blocks.get("optics")
    if not pixel_size and isinstance(optics, Table) and "rlnImagePixelSize" in optics:
        sizes = np.unique(optics["rlnImagePixelSize"])
        if len(sizes) != 1:
            raise InputError(path, f"optics groups have several pixel sizes {sizes.tolist()}; give --angpix")
        pixel_size = float(sizes[0])
    folder = path.parent if _relative_to_star(path, table) else Path(".")
    return ImageData(read_images(table["rlnImageName"], folder), "stack", pixel_size), blocks


def _image_names(blocks: Any) -> Any:
    """The rlnImageName column of STAR blocks (None without blocks)."""
    from vitreo.io.star import Table

    if blocks is None:
        return None
    return next(b["rlnImageName"] for b in blocks.values() if isinstance(b, Table) and "rlnImageName" in b)


def _relative_to_star(path: Path, table: Any) -> bool:
    """Whether image names resolve beside the STAR file rather than from the current directory (projects)."""
    from vitreo.io.image_refs import parse_image_name, resolve

    name = parse_image_name(str(table["rlnImageName"][0])).path
    return not resolve(name).exists() and resolve(name, path.parent).exists()


def _print_stats(path: Path, image: ImageData, names: Any = None) -> None:
    """One line per image (or map), as relion_image_handler --stats; ``names`` of STAR-file images."""
    import torch

    from vitreo.em.image_ops import image_statistics

    data = torch.from_numpy(image.data)
    stats = image_statistics(data, image.ndim)
    shape = image.data.shape[-image.ndim:][::-1]
    size = " x ".join(map(str, shape)) + (" x 1" if image.ndim == 2 else "")
    count = 1 if image.kind != "stack" else image.data.shape[0]
    for i in range(count):
        pick = {k: float(v.reshape(-1)[i]) for k, v in stats.items()}
        name = names[i] if names is not None else f"{i + 1:06d}@{path}" if image.kind == "stack" else str(path)
        typer.echo(f"{name} : (x,y,z,n)= {size} x 1 ; avg= {pick['mean']:.6g} stddev= {pick['std']:.6g} "
                   f"minval= {pick['min']:.6g} maxval= {pick['max']:.6g}")


def _operand(options: dict[str, Path | None], shape: tuple[int, ...], ndim: int) -> tuple[str, np.ndarray] | None:
    """The one image-by-image operation asked for, with its image (same box as the input)."""
    given = [(kind, path) for kind, path in options.items() if path is not None]
    if len(given) > 1:
        raise ValueError("give only one of --multiply, --add and --subtract")
    if not given:
        return None
    kind, path = given[0]
    other = read_image_file(path).data
    if other.shape[-ndim:] != shape[-ndim:] or other.ndim > len(shape):
        raise InputError(path, f"has shape {other.shape}, the input images {shape[-ndim:]}: sizes must match")
    return kind, other


def handle_command(
    input_path: Annotated[Path, typer.Option("--i", help="Input map/image (.mrc), stack (.mrcs) or STAR file of images.")],
    output: Annotated[Path | None, typer.Option("--o", "-o", help="Output file (.mrc, or .mrcs for stacks and STAR input).")] = None,
    angpix: Annotated[float, typer.Option("--angpix", help="Pixel size (Å): overrides the header, and is written out.")] = 0.0,
    lowpass: Annotated[float, typer.Option("--lowpass", help="Low-pass filter to this resolution (Å).")] = -1.0,
    highpass: Annotated[float, typer.Option("--highpass", help="High-pass filter: remove detail coarser than this (Å).")] = -1.0,
    edge_width: Annotated[
        float, typer.Option("--filter-edge-width", "--filter_edge_width", help="Raised-cosine filter edge (Fourier pixels).")
    ] = 2.0,
    bfactor: Annotated[float, typer.Option("--bfactor", help="Apply this B-factor (Å²; negative sharpens).")] = 0.0,
    rescale_angpix: Annotated[
        float, typer.Option("--rescale-angpix", "--rescale_angpix", "--rescale", help="Fourier crop/pad to this pixel size (Å).")
    ] = -1.0,
    new_box: Annotated[int, typer.Option("--new-box", "--new_box", help="Crop or pad to this box (pixels), about the centre.")] = -1,
    sym: Annotated[str, typer.Option("--sym", help="Symmetrise a 3D map with this point group (e.g. D2).")] = "",
    flip_x: Annotated[bool, typer.Option("--flip-x", "--flipX", help="Mirror along x (inverts the handedness of a map).")] = False,
    shift_com: Annotated[bool, typer.Option("--shift-com", "--shift_com", help="Move the centre of mass to the centre.")] = False,
    invert: Annotated[bool, typer.Option("--invert-contrast", "--invert_contrast", help="Negate the values.")] = False,
    multiply: Annotated[Path | None, typer.Option("--multiply", help="Multiply by this image/map, voxel by voxel.")] = None,
    add: Annotated[Path | None, typer.Option("--add", help="Add this image/map.")] = None,
    subtract: Annotated[Path | None, typer.Option("--subtract", help="Subtract this image/map.")] = None,
    stats: Annotated[bool, typer.Option("--stats", help="Print mean, stddev, min and max of each image; write nothing.")] = False,
    average: Annotated[bool, typer.Option("--average", help="Average the images of a stack or STAR file.")] = False,
) -> None:
    """Operate on maps, images and stacks, like relion_image_handler."""
    image, blocks = _read_input(input_path, angpix or None)
    if stats:
        _print_stats(input_path, image, _image_names(blocks))
        return
    if output is None:
        raise ValueError("give an output file with --o (or ask for --stats)")
    if average:
        if image.kind != "stack":
            raise InputError(input_path, f"--average needs a stack or a STAR file of images, not a {image.kind}")
        image = ImageData(image.data.astype(np.float64).mean(0).astype(np.float32), "image", image.pixel_size)
        blocks = None
    opts = HandleOptions(
        lowpass=lowpass if lowpass > 0 else None,
        highpass=highpass if highpass > 0 else None,
        edge_width=edge_width,
        bfactor=bfactor or None,
        rescale_angpix=rescale_angpix if rescale_angpix > 0 else None,
        new_box=new_box if new_box > 0 else None,
        sym=check_symmetry(sym) if sym else None,
        flip_x=flip_x,
        shift_com=shift_com,
        invert_contrast=invert,
        operand=_operand({"multiply": multiply, "add": add, "subtract": subtract}, image.data.shape, image.ndim),
    )
    _check(input_path, image, opts)
    result, pixel_size = _run(image, opts)
    _write(output, result, image.kind, pixel_size, blocks, input_path)


def _check(path: Path, image: ImageData, opts: HandleOptions) -> None:
    """One-line errors for options that do not fit the input."""
    needed = opts.needs_pixel_size
    if needed:
        require_pixel_size(path, image.pixel_size, needed)
    if opts.sym and image.kind != "volume":
        raise InputError(path, f"--sym needs a 3D map, not a {image.kind}")
    if opts.rescale_angpix is not None or opts.sym:
        require_even_box(path, image.data.shape, image.ndim)
    if opts.new_box is not None and opts.new_box % 2:
        raise ValueError(f"--new-box must be even, not {opts.new_box}")


def _run(image: ImageData, opts: HandleOptions) -> tuple[np.ndarray, float]:
    """Apply the operations, in chunks of images for stacks (with progress)."""
    import torch

    from vitreo.cli.progress import progress_bar

    data = torch.from_numpy(image.data)
    if image.kind != "stack":
        result, pixel_size = apply_operations(data, image.ndim, image.pixel_size, opts)
        return result.numpy(), pixel_size
    parts, pixel_size = [], image.pixel_size
    with progress_bar("processing images", len(data)) as advance:
        for start in range(0, len(data), CHUNK_IMAGES):
            part, pixel_size = apply_operations(data[start : start + CHUNK_IMAGES], 2, image.pixel_size, opts)
            parts.append(part.numpy())
            advance(start + len(part))
    return np.concatenate(parts), pixel_size


def _write(output: Path, data: np.ndarray, kind: str, pixel_size: float, blocks: Any, input_path: Path) -> None:
    """Write the result (and, for STAR input, a STAR file naming the new images)."""
    from vitreo.io.mrc import write_mrc

    if kind == "stack" and output.suffix.lower() != ".mrcs":
        raise ValueError(f"{output}: a stack is written as .mrcs")
    write_mrc(output, data, pixel_size, is_stack=kind == "stack")
    typer.echo(f"wrote {output} ({kind}, {pixel_size:.4g} Å/px)")
    if blocks is not None:
        star_path = output.with_suffix(".star")
        _write_star(star_path, blocks, output, data.shape[-1], pixel_size)
        typer.echo(f"wrote {star_path}")


def _write_star(star_path: Path, blocks: dict[str, Any], stack: Path, box: int, pixel_size: float) -> None:
    """Copy of the input STAR blocks with rlnImageName pointing into ``stack`` (named as given: relative to the project)."""
    from vitreo.io.image_refs import format_image_names
    from vitreo.io.star import Table, write_star

    out: dict[str, Any] = {}
    for name, block in blocks.items():
        if isinstance(block, Table):
            block = block.copy()
            if "rlnImageName" in block:
                block["rlnImageName"] = format_image_names(np.arange(len(block)), str(stack)).astype(object)
            if name == "optics":
                block["rlnImagePixelSize"] = np.full(len(block), pixel_size)
                if "rlnImageSize" in block:
                    block["rlnImageSize"] = np.full(len(block), box)
        out[name] = block
    write_star(star_path, out)
