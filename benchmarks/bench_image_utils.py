"""`vitreo image` utilities: align-symmetry accuracy and time, projection and image-handling throughput; one JSON line.

align-symmetry: the real betaGal map (../shared/data/maps/betaGal.mrc, 100 px, 3.54 Å/px, D2) and the
simulated 5A1A map, each turned by random rotations (with image_ops.rotate_volume), must be
turned back to RELION's D2 axes; also analytic T, O and I phantoms (64 px). The error is
symmetry-aware: with M = found rotation · applied rotation (which must map the map's own axes onto
RELION's, up to the group's normaliser), the largest angle between an operator M·g·Mᵀ and the
nearest operator of the group. project: ``--n`` CTF-affected projections of betaGal with offsets
and noise, through the command. handle: low-pass + rescale of that stack. Times are CPU seconds
(process time, 2 threads) and wall seconds; the machine was shared, so wall times are inflated.

Usage: python benchmarks/bench_image_utils.py [--n 10000] [--turns 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vitreo.cli.main import main as vitreo
from vitreo.em.geometry import angular_distance, random_rotations
from vitreo.em.image_ops import rotate_volume
from vitreo.em.symmetry import proper_operators
from vitreo.em.symmetry_alignment import align_symmetry
from vitreo.io.mrc import read_mrc
from vitreo.simulate.structures import default_structure_map

from simulated_data import peak_rss_mb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.em.test_symmetry_alignment import symmetric_phantom  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
def alignment_error(volume: torch.Tensor, sym: str, turn: torch.Tensor) -> tuple[float, float]:
    """(symmetry-aware error in degrees, CPU seconds) of aligning ``volume`` (already turned by ``turn``)."""
    start = time.process_time()
    result = align_symmetry(volume, sym)
    seconds = time.process_time() - start
    m = result.rotation @ turn
    group = proper_operators(sym)
    conjugated = m @ group @ m.T
    error = angular_distance(conjugated[:, None], group[None]).amin(-1).max()
    return math.degrees(float(error)), seconds


def run_command(*args: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one `vitreo` command."""
    start, wall = time.process_time(), time.perf_counter()
    try:
        vitreo(list(args))
    except SystemExit as stop:
        if stop.code:
            raise
    return time.process_time() - start, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="projections")
    parser.add_argument("--turns", type=int, default=3, help="random rotations per map")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    figures: dict[str, object] = {"benchmark": "image_utils", "threads": args.threads}

    maps = {"simulated_5a1a": torch.from_numpy(default_structure_map(3.54, 100)).double()}
    betagal = SHARED / "maps" / "betaGal.mrc"
    if betagal.is_file():
        maps["betagal_real"] = torch.from_numpy(read_mrc(betagal)[0]).double()
    turns = random_rotations(args.turns, generator=torch.Generator().manual_seed(7))
    for name, volume in maps.items():
        errors, times = [], []
        for turn in turns:
            error, seconds = alignment_error(rotate_volume(volume, turn), "D2", turn)
            errors.append(error)
            times.append(seconds)
        figures[f"align_{name}_D2_error_deg"] = [round(e, 2) for e in errors]
        figures[f"align_{name}_D2_cpu_s"] = round(float(np.mean(times)), 1)
    for sym in ("T", "O", "I"):
        turn = turns[0]
        error, seconds = alignment_error(symmetric_phantom(sym, 64, turn, seed=3, blobs=4), sym, turn)
        figures[f"align_phantom64_{sym}_error_deg"] = round(error, 2)
        figures[f"align_phantom64_{sym}_cpu_s"] = round(seconds, 1)

    if betagal.is_file():
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch)
            cpu, wall = run_command("image", "project", str(betagal), "--nr-uniform", str(args.n), "--ctf",
                                    "--max-offset", "3", "--add-noise", "--white-noise", "1", "-o", str(out / "P"))
            figures["project_images"] = args.n
            figures["project_cpu_s"], figures["project_wall_s"] = round(cpu, 1), round(wall, 1)
            figures["project_images_per_cpu_s"] = round(args.n / cpu)
            cpu, wall = run_command("image", "handle", "--i", str(out / "P" / "proj.mrcs"), "--lowpass", "10",
                                    "--rescale_angpix", "4.425", "--o", str(out / "small.mrcs"))
            figures["handle_lowpass_rescale_cpu_s"], figures["handle_wall_s"] = round(cpu, 1), round(wall, 1)
            figures["handle_images_per_cpu_s"] = round(args.n / cpu)
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
