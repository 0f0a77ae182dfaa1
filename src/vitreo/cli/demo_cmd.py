"""`vitreo demo`: the longest real path that vitreo runs today, on simulated betagal.

Until the tutorial pipeline exists (issue 11), the demo builds the betagal potential from PDB
5A1A, simulates CTF-modulated noisy particles with known orientations, writes them as RELION
files, reads them back and reconstructs gold-standard half-maps with D2 symmetry. Every figure
it prints is measured on this run: the half-map FSC resolution and the FSC against the truth.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vitreo.io.errors import InputError

if TYPE_CHECKING:
    import torch

    from vitreo.simulate.particle_stack import StackSettings

PIXEL_SIZE = 3.54  # Å, the RELION 2.1 tutorial's betagal
BOX = 100


def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the demo project into.")] = Path("vitreo_demo"),
    particles: Annotated[int, typer.Option("--particles", help="Number of particles to simulate.")] = 4000,
    snr: Annotated[float, typer.Option("--snr", help="Signal-to-noise ratio of the particle images.")] = 0.01,
    symmetry: Annotated[str, typer.Option("--sym", help="Symmetry used in reconstruction.")] = "D2",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    threads: Annotated[int, typer.Option("--j", help="CPU threads.")] = 2,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output folder.")] = False,
) -> None:
    """Simulate betagal particles and reconstruct them: measured resolution against the truth."""
    if out.exists() and not force:
        raise InputError(out, "already exists; choose another --out or pass --force to replace it")
    import torch  # heavy imports here keep `vitreo --help` fast

    from vitreo.em.backend import set_threads
    from vitreo.simulate.particle_stack import StackSettings

    set_threads(threads)
    settings = StackSettings(n_particles=particles, snr=snr)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.absolute().parent))
    try:
        summary = _run(work, settings, symmetry, torch.Generator().manual_seed(seed))
        summary["wall_seconds"] = round(time.perf_counter() - started, 1)
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    typer.echo(
        f"\nDone in {summary['wall_seconds']} s. Gold-standard resolution {summary['gold_standard_resolution_A']:.2f} Å; "
        f"FSC against the true map reaches 0.5 at {summary['resolution_vs_truth_A']:.2f} Å.\n"
        f"Outputs in {out}/ (summary.json, Reconstruct/run_fsc.png)."
    )


def _step(message: str) -> float:
    typer.echo(message)
    return time.perf_counter()


def _run(work: Path, settings: StackSettings, symmetry: str, generator: torch.Generator) -> dict:
    import torch

    from vitreo.cli.progress import progress_bar
    from vitreo.em.fsc import fsc, resolution_at
    from vitreo.io.fsc_table import fsc_table
    from vitreo.io.mrc import write_mrc
    from vitreo.io.star import write_star
    from vitreo.ml.aligned import load_aligned_particles
    from vitreo.ml.reconstruct import gold_standard
    from vitreo.plots.fsc_plot import plot_fsc
    from vitreo.simulate.particle_stack import simulate_particle_stack, write_particle_stack
    from vitreo.simulate.structures import default_structure_map

    t = _step(f"1/4 betagal potential from PDB 5A1A at {PIXEL_SIZE} Å/px, box {BOX}")
    truth = torch.from_numpy(default_structure_map(PIXEL_SIZE, BOX))
    write_mrc(work / "truth" / "map.mrc", truth.numpy(), PIXEL_SIZE)
    times = {"map_s": time.perf_counter() - t}

    t = _step(f"2/4 simulating {settings.n_particles} particles (CTF 0.8-3.0 µm, SNR {settings.snr})")
    stack = simulate_particle_stack(truth, PIXEL_SIZE, settings, generator)
    star = write_particle_stack(stack, settings, work)
    times["simulate_s"] = time.perf_counter() - t

    t = _step("3/4 reading particles.star and the stack back")
    particles = load_aligned_particles(star, project_dir=work)
    times["read_s"] = time.perf_counter() - t

    t = _step(f"4/4 gold-standard reconstruction with {symmetry} symmetry")
    with progress_bar("back-projecting", len(particles)) as advance:
        result = gold_standard(particles, symmetry, generator=generator, progress=advance)
    times["reconstruct_s"] = time.perf_counter() - t
    versus_truth = fsc(result.full, truth)
    out = work / "Reconstruct"
    for name, volume in (("run_half1", result.half1), ("run_half2", result.half2), ("run_map", result.full)):
        write_mrc(out / f"{name}.mrc", volume.numpy(), PIXEL_SIZE)
    curves = {"rlnFourierShellCorrelation": result.fsc.numpy(), "rlnVitreoFscAgainstTruth": versus_truth.numpy()}
    write_star(out / "run_fsc.star", {"fsc": fsc_table(curves, PIXEL_SIZE, BOX)})
    plot_fsc(out / "run_fsc.png", curves, PIXEL_SIZE, BOX, thresholds=(0.143, 0.5))
    gold = resolution_at(result.fsc, 0.143, PIXEL_SIZE, BOX)
    measured = resolution_at(versus_truth, 0.5, PIXEL_SIZE, BOX)
    typer.echo(f"    half-map FSC = 0.143 at {gold:.2f} Å; FSC with the truth = 0.5 at {measured:.2f} Å")
    return {
        "particles": len(particles),
        "pixel_size_A": PIXEL_SIZE,
        "box": BOX,
        "snr": settings.snr,
        "symmetry": symmetry,
        "gold_standard_resolution_A": round(gold, 3),
        "resolution_vs_truth_A": round(measured, 3),
        "noise_std": round(stack.noise_std, 4),
        **{k: round(v, 2) for k, v in times.items()},
    }
