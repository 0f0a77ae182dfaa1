"""`vitreo demo`: the whole RELION 2.1 tutorial on simulated betagal, in one command.

It simulates a preset (``quick`` by default) into a new project directory, writes the few dozen
coordinates that stand in for a person's manual picks, and runs every job of the tutorial
through the pipeline (:mod:`vitreo.cli.demo_stages`) with a progress display. The summary
(printed, and written as Demo/summary.json and Demo/summary.md) gives the wall time per stage,
the particles kept at each step, the final gold-standard resolution and the FSC of the final map
against the ground truth. Run again on the same directory, it goes on from where it stopped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from vitreo.cli.demo_stages import DemoData, DemoScale
from vitreo.io.errors import InputError

#: Work done per preset: classes and iterations, the tutorial's for ``tutorial``. ``tiny``'s few dozen
#: particles give single-frame maps too noisy for per-frame B-factors: 5 frames per map. The quick
#: Class3D's assignments stopped changing by iteration 10 in the timed runs (fraction of class
#: changes 0.000): 12 iterations keep a margin.
SCALES = {
    # tiny's SGD sees ~1,400 particle images in all: a noise inflation halving every 1,000 would outlast it
    "tiny": DemoScale(classes_manual=2, classes_auto=4, classes_3d=2, iterations_2d=8, iterations_3d=6,
                      sgd_iterations=(4, 12, 4), sgd_halflife=-1, sampling_3d="15 degrees",
                      sampling_polished="3.7 degrees", frames_per_bfactor=5, faster_sampling=True),
    "quick": DemoScale(classes_manual=6, classes_auto=20, classes_3d=3, iterations_2d=20, iterations_3d=12,
                       sgd_iterations=(20, 80, 20), faster_sampling=True),
    "tutorial": DemoScale(classes_manual=10, classes_auto=100, classes_3d=4),
}
#: Changes to the simulation presets for the demo: ``tiny`` packs its micrographs more densely, so
#: that a few minutes of work still give a map that resembles the truth.
SIMULATION_CHANGES: dict[str, dict[str, int]] = {"tiny": {"particles_per_micrograph": 45}}
#: Manual picks: about this many in all (a few dozen), at least 10 per micrograph.
MANUAL_PICKS = 60


def demo_command(
    preset: Annotated[str, typer.Option("--preset", help="Dataset and work: tiny, quick or tutorial.")] = "quick",
    out: Annotated[Path, typer.Option("--out", "-o", help="Project directory to create (or to go on with).")] = Path("vitreo-demo"),
    threads: Annotated[int, typer.Option("--j", help="CPU threads per job.")] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the simulation and of the manual picks.")] = 0,
) -> None:
    """Run the whole tutorial on simulated data: from movies to a sharpened, validated map."""
    if preset not in SCALES:
        raise InputError(None, f"unknown preset '{preset}': choose one of {', '.join(SCALES)}")
    from vitreo.cli.demo_progress import StageDisplay
    from vitreo.cli.demo_stages import classification_stages, polishing_stages, preprocessing_stages
    from vitreo.cli.demo_summary import summarise, summary_text
    from vitreo.io.atomic import write_text_atomic
    from vitreo.pipeline.project import Project
    from vitreo.pipeline.scheme import StageFailed, run_scheme

    data = _prepare(out, preset, seed)
    project = Project.open(out) if (out / "default_pipeline.star").is_file() else Project.init(out)
    scale = SCALES[preset]
    stages = (preprocessing_stages(data) + classification_stages(data, scale, threads)
              + polishing_stages(data, scale, threads))
    display = StageDisplay(out, len(stages))
    try:
        results = run_scheme(project, stages, display.before, display.after, display.started)
    except StageFailed as err:
        raise InputError(None, f"{err} (run `vitreo demo -o {out}` again to go on from there)") from None
    typer.echo("Measuring the final map against the truth ...")
    summary = summarise(out, results, nyquist=2 * data.config.pixel_size)
    summary["preset"] = preset
    (out / "Demo").mkdir(exist_ok=True)
    write_text_atomic(out / "Demo/summary.json", json.dumps(summary, indent=2) + "\n")
    text = summary_text(summary)
    write_text_atomic(out / "Demo/summary.md", f"# vitreo demo ({preset})\n\n{text}")
    typer.echo("\n" + text + f"Summary in {out}/Demo/summary.md and summary.json.")


def _prepare(out: Path, preset: str, seed: int) -> DemoData:
    """Simulate the preset into ``out`` (unless a demo is already there) and write the manual picks."""
    from vitreo.cli.demo_stages import write_person_picks
    from vitreo.io.mrc import read_mrc
    from vitreo.simulate.config import SimulationConfig
    from vitreo.simulate.dataset import simulate_dataset
    from vitreo.simulate.presets import preset as preset_config
    from vitreo.simulate.volumes import measured_diameter

    settings = out / "truth/simulation.json"
    if out.exists() and not settings.is_file():
        raise InputError(out, "exists and is not a vitreo demo; choose another --out")
    if not settings.is_file():
        typer.echo(f"Simulating the '{preset}' dataset into {out}/ ...")
        simulate_dataset(out, preset_config(preset, seed=seed, **SIMULATION_CHANGES.get(preset, {})),
                         progress=lambda done, total, name: typer.echo(f"  simulated {name} ({done}/{total})"))
    config = SimulationConfig.from_json(settings)
    volume, _ = read_mrc(out / "truth/map.mrc")
    diameter = measured_diameter(volume, config.pixel_size, 0.1)
    if not any((out / "Micrographs").glob("*_manualpick.star")):
        per_micrograph = max(10, math.ceil(MANUAL_PICKS / config.n_micrographs))
        picks = write_person_picks(out, per_micrograph, error_px=1.0, seed=seed)
        typer.echo(f"Wrote {picks} manual picks (true positions, 1 px error) in {out}/Micrographs/")
    mtf = f"mtf_{config.mtf}.star" if (out / f"mtf_{config.mtf}.star").is_file() else ""
    return DemoData(config, diameter, mtf)
