"""`vitreo star ...`: print, plot and convert STAR files (like relion_star_printtable/plottable)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from vitreo.io.atomic import atomic_path
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star
from vitreo.io.star_convert import convert_to_relion31

app = typer.Typer(help="Print, plot and convert STAR files.", no_args_is_help=True)


def _block(path: Path, blocks: dict, name: str) -> Table | dict:
    """The block ``name`` (with or without its ``data_`` prefix)."""
    key = name.removeprefix("data_")
    if key not in blocks:
        found = ", ".join(f"data_{b}" for b in blocks) or "none"
        raise InputError(path, f"no block data_{key} (blocks: {found})")
    return blocks[key]


def _columns(path: Path, block: Table | dict, labels: list[str]) -> list[np.ndarray]:
    """The named columns of a loop block, or the named values of a key-value block."""
    names = [label.removeprefix("_") for label in labels]
    available = block.labels if isinstance(block, Table) else list(block)
    missing = [n for n in names if n not in available]
    if missing:
        raise InputError(path, f"no label {', '.join(missing)} in this block")
    if isinstance(block, Table):
        return [np.asarray(block[n]) for n in names]
    return [np.asarray([block[n]]) for n in names]


@app.command("print")
def print_table(
    file: Annotated[Path, typer.Argument(help="STAR file.")],
    block: Annotated[str, typer.Argument(help="Block name, e.g. data_particles or particles.")],
    labels: Annotated[list[str], typer.Argument(help="Labels to print, e.g. rlnDefocusU rlnDefocusV.")],
) -> None:
    """Print the named columns of a block, tab-separated, one row per line."""
    columns = _columns(file, _block(file, read_star(file), block), labels)
    text_columns = [col.astype(str) for col in columns]
    rows = ["\t".join(values) for values in zip(*text_columns)]
    if rows:
        typer.echo("\n".join(rows))


@app.command("plot")
def plot_table(
    file: Annotated[Path, typer.Argument(help="STAR file.")],
    block: Annotated[str, typer.Argument(help="Block name, e.g. data_model_class_1.")],
    x: Annotated[str, typer.Argument(help="Label on the x axis ('index' for the row number).")],
    y: Annotated[list[str], typer.Argument(help="One or more labels on the y axis.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Image to write (.png, .pdf, .svg).")],
) -> None:
    """Plot one or more columns against another, like relion_star_plottable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = _block(file, read_star(file), block)
    ys = _columns(file, table, y)
    xs = np.arange(1, len(ys[0]) + 1) if x == "index" else _columns(file, table, [x])[0]
    for label, values in zip(y, ys):
        if not np.issubdtype(values.dtype, np.number):
            raise InputError(file, f"label {label} is not numeric")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in zip(y, ys):
        ax.plot(xs, values, marker="." if len(values) < 200 else None, label=label.removeprefix("_"))
    ax.set_xlabel("row" if x == "index" else x.removeprefix("_"))
    ax.set_title(f"{file.name}: data_{block.removeprefix('data_')}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format=output.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    typer.echo(f"wrote {output}")


@app.command("convert")
def convert(
    source: Annotated[Path, typer.Argument(help="RELION 2.x/3.0 STAR file.")],
    target: Annotated[Path, typer.Argument(help="RELION 3.1+ STAR file to write.")],
    pixel_size: Annotated[
        float | None,
        typer.Option("--pixel-size", help="Pixel size (Å) where the file records none."),
    ] = None,
) -> None:
    """Convert a RELION 2.x/3.0 STAR file to the 3.1+ form with an optics block."""
    if source.resolve() == target.resolve():
        raise InputError(target, "refusing to overwrite the input file; choose another output name")
    write_star(target, convert_to_relion31(read_star(source), pixel_size=pixel_size))
    typer.echo(f"wrote {target}")
