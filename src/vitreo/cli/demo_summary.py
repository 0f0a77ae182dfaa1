"""The figures `vitreo demo` reports at the end, all measured on the run's own files.

- wall time per stage, and whether an earlier run's job was reused;
- particles kept at each step that writes particles;
- the final gold-standard resolution (PostProcess's rlnFinalResolution), that of the polished
  particles' refinement when it ran, and the one before polishing;
- the FSC of the final refined map (Refine3D's run_class001.mrc, superposed on the truth with
  :func:`vitreo.em.map_alignment.align_maps`, which allows for the hand the initial model chose)
  against the true map, and where it crosses 0.5 (before polishing too);
- where the plots are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vitreo.cli.demo_stages import postprocess_general
from vitreo.io.star import read_star
from vitreo.pipeline.scheme import StageResult

#: Particle STAR files of the stages that keep or drop particles (alias -> file in its job).
PARTICLE_FILES = {
    "extract_manual": "particles.star",
    "extract_auto": "particles.star",
    "sort": "particles_sort.star",
    "good2d": "particles.star",
    "good3d": "particles.star",
    "refine3d": "run_data.star",
    "refine_shiny": "run_data.star",
}
#: (Refine3D, PostProcess) aliases, the final pair first, then the one before polishing.
REFINEMENTS = (("refine_shiny", "postprocess_shiny"), ("refine3d", "postprocess"))
#: Plots worth opening, by stage alias.
PLOTS = {
    "motioncorr": "logfile.pdf",
    "ctffind": "logfile.pdf",
    "autopick": "logfile.pdf",
    "sort": "logfile.pdf",
    "postprocess": "logfile.pdf",
    "localres": "histogram.pdf",
    "polish": "logfile.pdf",
    "postprocess_shiny": "logfile.pdf",
}


def particle_counts(root: Path, jobs: Mapping[str, str]) -> dict[str, int]:
    """Particles in the output of each stage of :data:`PARTICLE_FILES` that ran."""
    counts = {}
    for alias, name in PARTICLE_FILES.items():
        path = root / jobs[alias] / name if alias in jobs else None
        if path is not None and path.is_file():
            counts[alias] = len(read_star(path)["particles"])
    return counts


def plot_files(root: Path, jobs: Mapping[str, str]) -> list[str]:
    """The plots the run wrote (paths relative to the project), including the final Refine3D's angular
    distribution and the FSC against the truth."""
    found = [jobs[alias] + name for alias, name in PLOTS.items() if alias in jobs and (root / jobs[alias] / name).is_file()]
    refine = next((jobs[r] for r, _ in REFINEMENTS if r in jobs), None)
    if refine is not None:
        found += sorted(str(p.relative_to(root)) for p in (root / refine).glob("*angdist*"))
    return found + (["Demo/fsc_vs_truth.png"] if (root / "Demo/fsc_vs_truth.png").is_file() else [])


def compare_with_truth(root: Path, refined_maps: Mapping[str, Path], truth_map: Path) -> dict[str, dict[str, Any]]:
    """FSC of each refined map (by name) against the truth once superposed; writes their curves to
    Demo/fsc_vs_truth.png. Per name: where the FSC crosses 0.5 (Å), whether the hand was flipped and
    the alignment score."""
    import torch

    from vitreo.em.fsc import fsc, resolution_at
    from vitreo.em.map_alignment import align_maps, apply_alignment
    from vitreo.io.mrc import read_mrc
    from vitreo.plots.fsc_plot import plot_fsc

    truth, pixel = read_mrc(truth_map)
    truth_t = torch.from_numpy(truth).double()
    box = truth.shape[-1]
    curves, figures = {}, {}
    for name, path in refined_maps.items():
        refined, pixel = read_mrc(path)
        refined_t = torch.from_numpy(refined).double()
        alignment = align_maps(truth_t, refined_t, float(pixel))
        curve = fsc(apply_alignment(refined_t, alignment), truth_t)
        curves[f"{name} against the true map"] = curve.numpy()
        figures[name] = {"resolution_vs_truth_A": round(resolution_at(curve, 0.5, float(pixel), box), 2),
                         "hand_flipped": alignment.flipped, "alignment_score": round(float(alignment.score), 4)}
    (root / "Demo").mkdir(exist_ok=True)
    plot_fsc(root / "Demo/fsc_vs_truth.png", curves, float(pixel), box, thresholds=(0.5,))
    return figures


def final_resolution(root: Path, jobs: Mapping[str, str], alias: str = "postprocess") -> float | None:
    """PostProcess ``alias``'s gold-standard resolution (Å), when it ran."""
    general = postprocess_general(root, jobs, alias)
    return None if general is None else float(general["rlnFinalResolution"])


def summarise(root: Path, results: Sequence[StageResult], nyquist: float) -> dict[str, Any]:
    """Everything the demo reports, as a JSON-ready dict: the final figures at the top level, those
    before polishing under ``before_polishing`` when the polished refinement ran."""
    jobs = {r.stage.alias: r.job for r in results}
    summary: dict[str, Any] = {
        "stages": [{"stage": r.stage.title or r.stage.alias, "job": r.job, "seconds": round(r.seconds, 1),
                    "reused": r.reused} for r in results],
        "wall_seconds": round(sum(r.seconds for r in results), 1),
        "particles": particle_counts(root, jobs),
        "nyquist_A": round(nyquist, 3),
    }
    ran = [(refine, post) for refine, post in REFINEMENTS if refine in jobs]
    maps = {refine: root / jobs[refine] / "run_class001.mrc" for refine, _ in ran}
    truth = compare_with_truth(root, {k: v for k, v in maps.items() if v.is_file()}, root / "truth/map.mrc") if maps else {}
    for index, (refine, post) in enumerate(ran):
        figures = {"gold_standard_resolution_A": final_resolution(root, jobs, post), **truth.get(refine, {})}
        if index == 0:
            summary.update(figures)
        else:
            summary["before_polishing"] = figures
    summary.setdefault("gold_standard_resolution_A", None)
    summary["plots"] = plot_files(root, jobs)
    return summary


def summary_text(summary: Mapping[str, Any]) -> str:
    """The summary for people (also written as Demo/summary.md)."""
    lines = ["| stage | job | seconds |", "|---|---|---|"]
    lines += [f"| {s['stage']} | {s['job']} | {'reused' if s['reused'] else s['seconds']} |" for s in summary["stages"]]
    lines += ["", "Particles kept: " + ", ".join(f"{k} {v}" for k, v in summary["particles"].items())]
    gold = summary.get("gold_standard_resolution_A")
    if gold is not None:
        lines.append(f"Gold-standard resolution: {gold:.2f} Å (Nyquist {summary['nyquist_A']:.2f} Å, "
                     f"{100 * (gold / summary['nyquist_A'] - 1):.0f}% above it)")
    if "resolution_vs_truth_A" in summary:
        hand = ", after flipping the hand" if summary["hand_flipped"] else ""
        lines.append(f"FSC against the true map = 0.5 at {summary['resolution_vs_truth_A']:.2f} Å{hand}")
    before = summary.get("before_polishing", {})
    if before.get("gold_standard_resolution_A") is not None and "resolution_vs_truth_A" in before:
        lines.append(f"Before polishing: {before['gold_standard_resolution_A']:.2f} Å gold-standard, "
                     f"FSC against the true map = 0.5 at {before['resolution_vs_truth_A']:.2f} Å")
    lines += ["Plots: " + ", ".join(summary["plots"]), f"Total {summary['wall_seconds']:.0f} s of jobs."]
    return "\n".join(lines) + "\n"


__all__ = ["PARTICLE_FILES", "REFINEMENTS", "particle_counts", "plot_files", "compare_with_truth", "final_resolution",
           "summarise", "summary_text"]
