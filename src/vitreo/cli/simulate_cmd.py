"""`vitreo simulate -o DIR [--preset NAME] [--seed N] [--PARAMETER VALUE ...]`: a dataset with ground truth.

Every field of :class:`vitreo.simulate.config.SimulationConfig` is an option (``--n-micrographs``,
``--pixel-size``, ``--ctf/--no-ctf``, ``--micrograph-size X Y``, …); options not given keep the
preset's value. Only the light config module is imported here; rendering loads on use.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from vitreo.simulate.config import SimulationConfig
from vitreo.simulate.presets import PRESETS, preset


def _run(output: Path, preset_name: str, overwrite: bool, **parameters: Any) -> None:
    from vitreo.cli.progress import progress_bar
    from vitreo.simulate.dataset import simulate_dataset

    overrides = {name: value for name, value in parameters.items() if value is not None}
    config = preset(preset_name, **overrides)
    with progress_bar("simulate", config.n_micrographs) as advance:

        def report(done: int, total: int, name: str) -> None:
            advance(done)

        dataset = simulate_dataset(output, config, overwrite=overwrite, progress=report)
    kind = "micrographs" if config.micrographs_only else "movies"
    typer.echo(
        f"{dataset.root}: {len(dataset.micrographs)} {kind}, {dataset.n_particles} particles, "
        f"{dataset.n_junk} junk objects; truth in {dataset.root / 'truth'}"
    )


def _parameters() -> list[inspect.Parameter]:
    """The command's options: output, preset, overwrite, then one per config field."""
    hints = typing.get_type_hints(SimulationConfig)  # the dataclass's annotations are strings
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
        hint = hints[field.name]
        name = f"{flag}/--no-{flag[2:]}" if hint is bool else flag
        unit = f", in {field.metadata['unit']}" if field.metadata["unit"] else ""
        text = field.metadata["help"]
        option = typer.Option(name, help=f"{text[0].upper()}{text[1:]}{unit}.", show_default=False)
        params.append(inspect.Parameter(field.name, keyword, default=None, annotation=Annotated[hint | None, option]))
    return params


def _make_command() -> types.FunctionType:
    def simulate(**kwargs: Any) -> None:
        """Simulate movies (or micrographs) of particles in ice, with their ground truth in DIR/truth."""
        _run(kwargs.pop("output"), kwargs.pop("preset_name"), kwargs.pop("overwrite"), **kwargs)

    simulate.__signature__ = inspect.Signature(_parameters())  # type: ignore[attr-defined]
    return simulate


simulate = _make_command()
