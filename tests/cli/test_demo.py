"""End to end: `vitreo demo --preset tiny` runs every job of the tutorial through the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_cli import assert_one_line_error, run_cli
from vitreo.io.star import read_star

STAGES = ["Import", "MotionCorr", "CtfFind", "Import", "ManualPick", "Extract", "Class2D", "Select", "AutoPick",
          "Extract", "Sort", "Class2D", "Select", "InitialModel", "Class3D", "Select", "Refine3D", "MaskCreate",
          "PostProcess", "LocalRes", "MovieRefine", "Polish", "Refine3D", "PostProcess"]


@pytest.mark.slow
def test_tiny_demo_runs_the_tutorial_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_cli("demo", "--preset", "tiny", "--out", str(out), "--j", "2", timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "Demo/summary.json").read_text())
    assert [s["job"].split("/")[0] for s in summary["stages"]] == STAGES
    assert not any(s["reused"] for s in summary["stages"])
    counts = summary["particles"]
    # each stage handed the next what it needs: particles all the way to the refinement
    assert counts["extract_manual"] >= 20 and counts["extract_auto"] >= 30
    assert counts["sort"] == counts["extract_auto"]
    assert 0 < counts["good3d"] <= counts["good2d"] <= counts["sort"] and counts["refine3d"] == counts["good3d"]
    data = read_star(out / summary["stages"][16]["job"] / "run_data.star")["particles"]
    assert set(data["rlnRandomSubset"]) == {1, 2}
    # polishing: every refined particle becomes a shiny one, refined again in its own half-set
    shiny = read_star(out / summary["stages"][21]["job"] / "shiny.star")["particles"]
    assert len(shiny) == counts["refine3d"] == counts["refine_shiny"]
    polished = read_star(out / summary["stages"][22]["job"] / "run_data.star")["particles"]
    assert np.array_equal(np.asarray(polished["rlnRandomSubset"]), np.asarray(shiny["rlnRandomSubset"]))
    assert all(str(name).endswith("_shiny.mrcs") for name in polished["rlnImageName"])
    # the final map resembles the truth (tiny: few dozen particles at 4.5 Å/px, so only at low resolution)
    assert summary["resolution_vs_truth_A"] < 70.0
    assert 2 * 4.5 <= summary["gold_standard_resolution_A"] < 80.0
    before = summary["before_polishing"]
    assert before["resolution_vs_truth_A"] < 70.0 and 2 * 4.5 <= before["gold_standard_resolution_A"] < 80.0
    assert "Demo/fsc_vs_truth.png" in summary["plots"] and all((out / p).is_file() for p in summary["plots"])
    assert "Gold-standard resolution" in result.stdout and "FSC against the true map" in result.stdout

    again = run_cli("demo", "--preset", "tiny", "--out", str(out), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(s["reused"] for s in json.loads((out / "Demo/summary.json").read_text())["stages"])


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    assert_one_line_error(run_cli("demo", "--out", str(tmp_path / "data")), "is not a vitreo demo")
    assert_one_line_error(run_cli("demo", "--preset", "huge", "--out", str(tmp_path / "x")), "unknown preset")
