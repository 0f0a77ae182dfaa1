"""Auto-picking and sorting on a simulated dataset against its truth; prints one JSON line.

Template picking with 5 references projected from the true map (5° in-plane sampling, shrink 0,
as the issue's performance target), Gaussian-blob and Laplacian-of-Gaussian picking: precision
and recall at a matching distance of 0.25 × the particle diameter, with junk and carbon present,
and seconds per micrograph. Then particles are extracted and sorted against the picking
references (every true particle and junk object, with the reference and psi of the best template
at its position); the ROC AUC says how well the Z-scores put the simulated junk after the particles.

Junk lies anywhere on the field, as on real grids (``simulate.plan``); sorting is also measured on
a junk-rich variant (3 micrographs, 400 particles and 25 % junk each, same physics).

Usage: python benchmarks/bench_autopick.py [--preset tutorial] [--data DIR] [--junk-data DIR] [--micrographs N]
``--data``/``--junk-data`` reuse datasets made with `vitreo simulate --micrographs-only`; otherwise they
are simulated into a temporary folder (about three minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from vitreo.em.ctf import CtfParams
from vitreo.io.mrc import read_mrc
from vitreo.picking.autopick import LogPicker, LogSettings, PeakSettings, TemplatePicker, TemplateSettings
from vitreo.picking.evaluate import pick_scores, roc_auc
from vitreo.picking.extraction import ExtractSettings, cut_boxes, prepare_boxes, select_boxes
from vitreo.picking.micrograph_table import read_micrograph_table
from vitreo.picking.references import References, gaussian_blob, project_map
from vitreo.picking.sorting import SortSettings, sort_particles
from vitreo.simulate import preset, simulate_dataset

from simulated_data import peak_rss_mb, scratch_dataset, truth_particles

DIAMETER = 200.0  # Å
REFERENCE_VIEWS = (0, 2, 5, 8, 11)  # 5 of the 12 30°-views of the D2 asymmetric unit


def centres(columns: dict, pixel: float, rows: np.ndarray) -> np.ndarray:
    return np.stack([columns["rlnCoordinateX"][rows] - columns["rlnOriginXAngst"][rows] / pixel,
                     columns["rlnCoordinateY"][rows] - columns["rlnOriginYAngst"][rows] / pixel], 1)


def run_picker(picker, entries, use_ctf: bool) -> tuple[dict[str, object], dict[str, float]]:
    """Peaks per micrograph, and the mean wall and CPU seconds per micrograph (maps and peak search).

    The first micrograph also builds the template bank; the CPU time divided by the threads is
    what the wall time is on otherwise idle cores (other processes inflate the wall time).
    """
    peaks, wall, cpu = {}, [], []
    for entry in entries:
        image, _ = read_mrc(entry.name)
        start, start_cpu = time.perf_counter(), time.process_time()
        maps = picker.compute(torch.from_numpy(image), entry.pixel_size, entry.ctf_params() if use_ctf else None)
        peaks[entry.name] = (picker.pick(maps), maps)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return peaks, {"s_per_micrograph": round(float(np.mean(wall)), 2),
                   "cpu_s_per_micrograph": round(float(np.mean(cpu)), 2)}


def scores(picks: dict, columns: dict, pixel: float) -> dict[str, float]:
    good = columns["rlnVitreoIsJunk"] == 0
    truth_xy = {name: centres(columns, pixel, np.flatnonzero(good & (columns["rlnMicrographName"] == name)))
                for name in picks}
    xy = {name: np.stack([p.x, p.y], 1) for name, (p, _) in picks.items()}
    s = pick_scores(xy, truth_xy, 0.25 * DIAMETER / pixel)
    return {"picks": s.n_picks, "true": s.n_true, "precision": round(s.precision, 4), "recall": round(s.recall, 4)}


def repick(picker, picks: dict, threshold: float) -> dict:
    """The same maps searched again with another threshold (as with 'Read FOM maps')."""
    if isinstance(picker, TemplatePicker):
        picker = dataclasses.replace(picker, peaks=dataclasses.replace(picker.peaks, threshold=threshold))
    else:
        picker = dataclasses.replace(picker, settings=dataclasses.replace(picker.settings, adjust=threshold))
    return {name: (picker.pick(maps), maps) for name, (_, maps) in picks.items()}


def sort_auc(picks: dict, columns: dict, pixel: float, references: References, entries) -> dict[str, float]:
    """Every true object (particle or junk) extracted at its true coordinate, given the reference and
    psi of the best template there (read from the picking maps, as a pick there would have), sorted
    against the references: the ROC AUC of the Z-scores of junk against particles."""
    images, junk, classes, psis, defocus = [], [], [], [], []
    box = references.box
    for entry in entries:
        _, maps = picks[entry.name]
        image, _ = read_mrc(entry.name)
        here = np.flatnonzero(columns["rlnMicrographName"] == entry.name)
        xy = np.stack([columns["rlnCoordinateX"][here], columns["rlnCoordinateY"][here]], 1)
        kept = select_boxes(xy, box, image.shape).kept
        work = np.clip(np.rint(xy[kept] * maps.grid.scale).astype(int), 0, maps.grid.work_size - 1)
        images.append(prepare_boxes(cut_boxes(torch.from_numpy(image), xy[kept], box), ExtractSettings(box=box)))
        junk.append(columns["rlnVitreoIsJunk"][here][kept] == 1)
        classes.append(maps.maps.reference[work[:, 1], work[:, 0]].numpy())
        psis.append(maps.maps.psi[work[:, 1], work[:, 0]].double().numpy())
        defocus.append(np.repeat([[entry.ctf[k] for k in ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle")]],
                                 int(kept.sum()), 0))
    stack, junk, defocus = torch.cat(images), np.concatenate(junk), np.concatenate(defocus)
    ctf = CtfParams.from_values(defocus_u=defocus[:, 0], defocus_v=defocus[:, 1], defocus_angle=defocus[:, 2],
                                voltage=entries[0].ctf["rlnVoltage"], cs=entries[0].ctf["rlnSphericalAberration"],
                                amplitude_contrast=entries[0].ctf["rlnAmplitudeContrast"])
    start = time.perf_counter()
    result = sort_particles(stack, references.images, pixel, np.concatenate(classes), np.concatenate(psis),
                            np.zeros((len(stack), 2)), ctf, SortSettings(mask_radius=0.5 * DIAMETER / pixel))
    seconds = time.perf_counter() - start
    worst = np.argsort(-result.zscore)[: int(junk.sum())]
    return {"sorted": int(len(stack)), "junk": int(junk.sum()), "roc_auc": round(roc_auc(result.zscore, junk), 4),
            "junk_in_worst_part": round(float(junk[worst].mean()), 4), "particles_per_s": round(len(stack) / seconds, 1)}


JUNK_RICH = {"n_micrographs": 3, "particles_per_micrograph": 400, "junk_fraction": 0.25, "seed": 5}


def template_picker(pixel: float, threshold: float) -> tuple[TemplatePicker, References]:
    """The benchmark's template picker (5 views of the true map) and its references (white)."""
    views = project_map("truth/map.mrc", pixel, 1, "D2")
    references = References(views.images[list(REFERENCE_VIEWS)], views.pixel_size)
    peaks = PeakSettings(threshold=threshold, min_distance=180.0, max_stddev=1.2)
    return TemplatePicker(References(-references.images, pixel), TemplateSettings(mask_diameter=DIAMETER), peaks), references


def junk_rich_sort(root: Path, threshold: float) -> dict[str, float]:
    """Sorting measured on the junk-rich dataset in ``root``."""
    os.chdir(root)
    entries = read_micrograph_table("truth/micrographs.star").entries
    columns, pixel = truth_particles(root)
    picker, references = template_picker(pixel, threshold)
    picks, _ = run_picker(picker, entries, True)
    return sort_auc(picks, columns, pixel, references, entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tutorial")
    parser.add_argument("--data", type=Path, default=None, help="an existing simulated dataset (micrographs only)")
    parser.add_argument("--junk-data", type=Path, default=None, help="an existing junk-rich dataset (see JUNK_RICH)")
    parser.add_argument("--micrographs", type=int, default=0, help="use only the first N micrographs (0: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=5.0, help="template FOM threshold")
    parser.add_argument("--blob-threshold", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with scratch_dataset(args.preset, args.data, "bench_autopick_") as (scratch, root):
        os.chdir(root)
        entries = read_micrograph_table("truth/micrographs.star").entries
        entries = entries[: args.micrographs] if args.micrographs else entries
        columns, pixel = truth_particles(root)
        template, references = template_picker(pixel, args.threshold)
        template_picks, template_s = run_picker(template, entries, True)
        blob = TemplatePicker(gaussian_blob(DIAMETER, pixel, -1.0),
                              TemplateSettings(psi_step=360.0, use_ctf=False, mask_diameter=DIAMETER),
                              PeakSettings(threshold=args.blob_threshold, min_distance=180.0, max_stddev=1.2))
        blob_picks, blob_s = run_picker(blob, entries, False)
        log = LogPicker(LogSettings(min_diameter=150.0, max_diameter=180.0, adjust=-0.25))
        log_picks, log_s = run_picker(log, entries, False)
        report = {
            "benchmark": "autopick",
            "preset": args.preset,
            "micrographs": len(entries),
            "micrograph_size": list(read_mrc(entries[0].name)[0].shape),
            "pixel_size": pixel,
            "threads": args.threads,
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "matching_distance_A": 0.25 * DIAMETER,
            "template": {"references": len(references), "psi_step": 5.0, "shrink": 0,
                         "templates": len(references) * 72, "work_size": next(iter(template_picks.values()))[1].grid.work_size,
                         **template_s, "threshold": args.threshold,
                         **scores(template_picks, columns, pixel),
                         "sweep": {t: scores(repick(template, template_picks, t), columns, pixel)
                                   for t in (4.0, 4.5, 5.5, 6.0)}},
            "gaussian_blob": {**blob_s, "threshold": args.blob_threshold,
                              **scores(blob_picks, columns, pixel)},
            "log": {**log_s, "diameters_A": [150, 180], "adjust": -0.25,
                    **scores(log_picks, columns, pixel)},
            "sort": sort_auc(template_picks, columns, pixel, references, entries),
        }
        junk_root = args.junk_data or simulate_dataset(
            scratch / "junk", preset(args.preset, micrographs_only=True, **JUNK_RICH)).root
        report["sort_junk_rich"] = {**JUNK_RICH, **junk_rich_sort(junk_root, args.threshold)}
        report["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
