"""`vitreo bench`: runs benchmark scripts and reports their JSON figures."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import run_cli
from vitreo.cli.bench_cmd import json_lines


def test_bench_reports_figures_and_failures(tmp_path: Path) -> None:
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "bench_good.py").write_text('print("warming up")\nprint(\'{"workload": "a", "wall_s": 1.5}\')\n')
    (bench / "bench_bad.py").write_text('import sys\nsys.exit("no data here")\n')
    (bench / "helper.py").write_text("raise SystemExit(3)\n")  # not a bench_ script: not run
    result = run_cli("bench", "--dir", str(bench), "--out", str(tmp_path / "report"))
    assert result.returncode == 1 and "failed: bench_bad.py" in result.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    by_name = {r["script"]: r for r in report["scripts"]}
    assert set(by_name) == {"bench_good.py", "bench_bad.py"}
    assert by_name["bench_good.py"]["figures"] == [{"workload": "a", "wall_s": 1.5}]
    assert by_name["bench_bad.py"]["status"] == "exit 1" and "no data here" in by_name["bench_bad.py"]["error"][-1]
    assert report["machine"]["cores"] >= 1
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| workload | a |" in markdown and "bench_bad.py — exit 1" in markdown

    only = run_cli("bench", "--dir", str(bench), "--only", "good", "--out", str(tmp_path / "r2"))
    assert only.returncode == 0, only.stderr
    assert [r["script"] for r in json.loads((tmp_path / "r2" / "report.json").read_text())["scripts"]] == ["bench_good.py"]


def test_json_lines_skips_other_output() -> None:
    assert json_lines('x\n{"a": 1}\n{broken}\n  {"b": [1, 2]}  \n') == [{"a": 1}, {"b": [1, 2]}]
