"""`vitreo simulate -o DIR [--preset NAME] [--seed N] [--PARAMETER VALUE ...]`: a dataset with ground truth.

Every field of :class:`vitreo.simulate.SimulationConfig` is an option (``--n-micrographs``,
``--pixel-size``, ``--ctf/--no-ctf``, ``--micrograph-size X Y``, …); options not given keep
the preset's value.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vitreo.simulate import PRESETS, SimulationConfig, preset, simulate_dataset
from vitreo.simulate.dataset import Progress as ProgressCallback

def _run(output: Path, preset_name: str, overwrite: bool, **parameters: Any) -> None:
    overrides = {name: value for name, value in parameters.items() if value is not None}
    config = preset(preset_name, **overrides)
    console = Console(stderr=True)
    if console.is_terminal:
        columns = (TextColumn("simulate {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("", total=config.n_micrographs)
            dataset = simulate_dataset(output, config, overwrite=overwrite, progress=_bar_callback(bar, task))
    else:
        dataset = simulate_dataset(output, config, overwrite=overwrite, progress=_line_callback)
    kind = "micrographs" if config.micrographs_only else "movies"
    typer.echo(
        f"{dataset.root}: {len(dataset.micrographs)} {kind}, {dataset.n_particles} particles, "
        f"{dataset.n_junk} junk objects; truth in {dataset.root / 'truth'}"
    )


def _bar_callback(bar: Progress, task: Any) -> ProgressCallback:
    def update(done: int, total: int, name: str) -> None:
        bar.update(task, completed=done, description=name)

    return update


def _line_callback(done: int, total: int, name: str) -> None:
    sys.stderr.write(f"simulate: {done}/{total} {name}\n")
    sys.stderr.flush()


def _parameters() -> list[inspect.Parameter]:
    hints = typing.get_type_hints(SimulationConfig)
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter(
            "output", keyword,
            annotation=Annotated[Path, typer.Option("-o", "--output", help="Folder to create for the dataset.")],
        ),
        inspect.Parameter(
            "preset_name", keyword, default="tutorial",
            annotation=Annotated[str, typer.Option("--preset", help=f"Starting parameters: {', '.join(PRESETS)}.")],
        ),
        inspect.Parameter(
            "overwrite", keyword, default=False,
            annotation=Annotated[bool, typer.Option("--overwrite", help="Replace the output folder if it exists.")],
        ),
    ]
    for field in dataclasses.fields(SimulationConfig):
        flag = "--" + field.name.replace("_", "-")
        hint = hints[field.name]  # the dataclass's annotations are strings (postponed evaluation)
        name = f"{flag}/--no-{flag[2:]}" if hint is bool else flag
        unit = f", in {field.metadata['unit']}" if field.metadata["unit"] else ""
        text = field.metadata["help"]
        help_text = f"{text[0].upper()}{text[1:]}{unit}."
        option = typer.Option(name, help=help_text, show_default=False)
        params.append(inspect.Parameter(field.name, keyword, default=None, annotation=Annotated[hint | None, option]))
    return params


def _make_command() -> types.FunctionType:
    def simulate(**kwargs: Any) -> None:
        """Simulate movies (or micrographs) of particles in ice, with their ground truth in DIR/truth."""
        _run(kwargs.pop("output"), kwargs.pop("preset_name"), kwargs.pop("overwrite"), **kwargs)

    simulate.__signature__ = inspect.Signature(_parameters())  # type: ignore[attr-defined]
    return simulate


simulate = _make_command()
