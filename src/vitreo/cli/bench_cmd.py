"""`vitreo bench`: run the benchmark scripts and write one report of their figures.

Each ``benchmarks/bench_*.py`` prints its figures as JSON lines on stdout (one per workload).
The report gathers them per script with the machine they ran on: ``report.json`` (machine,
then per script: exit status, wall seconds, figures) and ``report.md`` (a table per script).
A script that fails is reported with the end of its stderr; the others still run.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from vitreo.io.atomic import write_text_atomic
from vitreo.io.errors import InputError


def machine() -> dict[str, Any]:
    """CPU, cores, memory, Python and torch versions, and the GPU when there is one."""
    info: dict[str, Any] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                            "python": platform.python_version(), "system": platform.platform()}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    info["torch"] = torch.__version__
    info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects printed one per line in ``text`` (other lines are ignored)."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def run_script(script: Path, timeout_s: float | None) -> dict[str, Any]:
    """Run one benchmark script with this Python; its status, wall time and figures."""
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        return {"script": script.name, "status": "timeout", "wall_s": round(time.perf_counter() - started, 1),
                "figures": json_lines(out)}
    result = {"script": script.name, "status": "ok" if done.returncode == 0 else f"exit {done.returncode}",
              "wall_s": round(time.perf_counter() - started, 1), "figures": json_lines(done.stdout)}
    if done.returncode != 0:
        result["error"] = done.stderr.strip().splitlines()[-3:]
    return result


def markdown_report(report: dict[str, Any]) -> str:
    """The report as Markdown: the machine, then one table of figures per script."""
    m = report["machine"]
    lines = ["# vitreo benchmark report", "", f"Run {report['date']} on {m['cpu']}, {m['cores']} cores, "
             f"{m.get('memory_gib', '?')} GiB, GPU: {m['gpu'] or 'none'}; Python {m['python']}, torch {m['torch']}.", ""]
    for result in report["scripts"]:
        lines += [f"## {result['script']} — {result['status']}, {result['wall_s']} s", ""]
        if result.get("error"):
            lines += ["```", *result["error"], "```", ""]
        for figures in result["figures"]:
            lines += ["| figure | value |", "|---|---|"]
            lines += [f"| {key} | {value} |" for key, value in figures.items()]
            lines.append("")
    return "\n".join(lines) + "\n"


def bench_command(
    directory: Annotated[Path, typer.Option("--dir", help="Folder of the bench_*.py scripts.")] = Path("benchmarks"),
    only: Annotated[list[str], typer.Option("--only", help="Run only scripts whose name contains this (repeatable).")] = [],  # noqa: B006
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.json and report.md.")] = Path("bench_report"),
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds allowed per script (0: no limit).")] = 0.0,
) -> None:
    """Run the benchmarks (benchmarks/bench_*.py) and write report.json and report.md."""
    scripts = sorted(directory.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(word in s.name for word in only)]
    if not scripts:
        raise InputError(directory, "holds no bench_*.py scripts" + (f" matching {', '.join(only)}" if only else ""))
    report: dict[str, Any] = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                              "machine": machine(), "scripts": []}
    for index, script in enumerate(scripts, 1):
        typer.echo(f"[{index}/{len(scripts)}] {script.name} ...", nl=False)
        result = run_script(script, timeout or None)
        typer.echo(f" {result['status']}, {result['wall_s']} s")
        report["scripts"].append(result)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / "report.md", markdown_report(report))
    failed = [r["script"] for r in report["scripts"] if r["status"] != "ok"]
    typer.echo(f"Report: {out / 'report.md'} and {out / 'report.json'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    if failed:
        raise typer.Exit(1)
