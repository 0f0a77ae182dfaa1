"""`vitreo reconstruct`: a map from aligned particles, like relion_reconstruct."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def reconstruct_command(
    star: Annotated[Path, typer.Option("--i", help="Particles STAR file (RELION 3.1+) with angles and offsets.")],
    output: Annotated[Path, typer.Option("--o", help="Output map (.mrc).")],
    symmetry: Annotated[str, typer.Option("--sym", help="Point group, e.g. C1, D2, I2.")] = "C1",
    ctf: Annotated[bool, typer.Option("--ctf/--no-ctf", help="Apply CTF correction.")] = True,
    subset: Annotated[int, typer.Option("--subset", help="Only rlnRandomSubset 1 or 2 (0: all).")] = 0,
    gold: Annotated[
        bool, typer.Option("--gold-standard", help="Also write half-maps and their FSC (_half1/_half2, _fsc.star).")
    ] = False,
    project_dir: Annotated[Path, typer.Option("--project-dir", help="Folder that image names are relative to.")] = Path("."),
    gpu: Annotated[str | None, typer.Option("--gpu", help="GPU ids as RELION takes them, e.g. 0 or 0:1.")] = None,
    threads: Annotated[int, typer.Option("--j", help="CPU threads.")] = 1,
) -> None:
    """Back-project particles at their recorded orientations, offsets and CTFs."""
    import torch  # heavy imports here keep `vitreo --help` fast

    from vitreo.cli.progress import progress_bar
    from vitreo.em.backend import Backend
    from vitreo.em.fsc import resolution_at
    from vitreo.io.fsc_table import fsc_table
    from vitreo.io.mrc import write_mrc
    from vitreo.io.star import write_star
    from vitreo.ml.aligned import load_aligned_particles
    from vitreo.ml.reconstruct import gold_standard, reconstruct

    backend = Backend.from_options(gpu=gpu, threads=threads)
    backend.activate()
    particles = load_aligned_particles(star, project_dir, use_ctf=ctf, device=backend.device)
    if subset:
        particles = particles.select(particles.subsets == subset)
        if len(particles) == 0:
            raise ValueError(f"{star}: no particles with rlnRandomSubset {subset}")
    with progress_bar("back-projecting", len(particles)) as advance:
        if gold:
            result = gold_standard(particles, symmetry, progress=advance)
            stem = output.with_suffix("")
            write_mrc(f"{stem}_half1.mrc", result.half1.cpu().numpy(), particles.pixel_size)
            write_mrc(f"{stem}_half2.mrc", result.half2.cpu().numpy(), particles.pixel_size)
            table = fsc_table({"rlnFourierShellCorrelation": result.fsc.cpu().numpy()}, particles.pixel_size, particles.box)
            write_star(f"{stem}_fsc.star", {"fsc": table})
            volume = result.full
            typer.echo(f"gold-standard resolution (FSC 0.143): {resolution_at(result.fsc, 0.143, particles.pixel_size, particles.box):.2f} Å")
        else:
            volume = reconstruct(particles, symmetry, progress=advance)
    write_mrc(output, volume.to(torch.float32).cpu().numpy(), particles.pixel_size)
    typer.echo(f"wrote {output} ({len(particles)} particles, {symmetry})")
