"""Job types used only by the pipeline tests, loaded through VITREO_JOB_MODULES.

- ``vitreo.test.sleep``: sleeps in small steps, checking for abort.
- ``vitreo.test.busy``: sleeps without checking for abort.
- ``vitreo.test.consume``: reads a movies node and lists the movies it has seen
  (continuing: only new ones), with files for gentle and harsh cleaning.
- ``vitreo.test.copy``: a microscope: each run finishes the movie it started copying
  last time (a temporary ``.part`` name) and starts copying the next one.
- ``vitreo.test.ml``: continues from an ``_optimiser.star`` (FROM_OPTIMISER).
- ``vitreo.test.crash``: raises.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from vitreo.io.star import read_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode

SEEN_LABEL = "MicrographGroupMetadata.star.vitreo.test"


def _sleep(job_dir: Path, params: Params, ctx: JobContext) -> None:
    end = time.monotonic() + params.number("seconds")
    while time.monotonic() < end:
        ctx.check_abort()
        time.sleep(0.05)
    (job_dir / "slept.txt").write_text("done\n")


def _busy(job_dir: Path, params: Params, ctx: JobContext) -> None:
    time.sleep(params.number("seconds"))  # never checks for abort itself


def _consume(job_dir: Path, params: Params, ctx: JobContext) -> None:
    blocks = read_star(params.text("fn_in"))
    movies = list(blocks["movies"]["rlnMicrographMovieName"])
    seen_file = job_dir / "seen.txt"
    seen = seen_file.read_text().split() if ctx.is_continue and seen_file.exists() else []
    new = [m for m in movies if m not in seen]
    seen_file.write_text("".join(f"{m}\n" for m in seen + new))
    with open(job_dir / "counts.txt", "a") as fh:
        fh.write(f"{len(new)} {'continue' if ctx.is_continue else 'new'}\n")
    (job_dir / "tmp_1.dat").write_text("gentle\n")
    (job_dir / "scratch").mkdir(exist_ok=True)
    (job_dir / "scratch" / "big.dat").write_text("harsh\n")


def _copy(job_dir: Path, params: Params, ctx: JobContext) -> None:
    source, target = Path(params.text("source_dir")), Path(params.text("target_dir"))
    target.mkdir(exist_ok=True)
    for partial in sorted(target.glob("*.part")):
        partial.rename(partial.with_suffix(""))
    waiting = sorted(source.glob("*"))
    if waiting:
        shutil.move(str(waiting[0]), str(target / (waiting[0].name + ".part")))
    (job_dir / "copied.txt").write_text(f"{len(waiting)} left\n")


def _ml(job_dir: Path, params: Params, ctx: JobContext) -> list[OutputNode]:
    with open(job_dir / "log.txt", "a") as fh:
        fh.write(f"{'continue from ' + params.text('fn_cont') if ctx.is_continue else 'from scratch'}\n")
    (job_dir / "run_it001_optimiser.star").write_text("data_\n")
    return [OutputNode("run_it001_optimiser.star", "OptimiserData.star.relion.vitreotest")]


def _crash(job_dir: Path, params: Params, ctx: JobContext) -> None:
    raise RuntimeError("boom: the fake job crashed")


def _spec(label: str, run, options=(), outputs=lambda p: [], **extra) -> JobSpec:  # noqa: ANN001
    return JobSpec(directory="External", type_label=label, title=label, options=(*options, *running_options(
        has_mpi=False, has_threads=True)), run=run, output_nodes=outputs, summary="test job", **extra)


def job_specs() -> list[JobSpec]:
    movies_in = JobOption("fn_in", "Movies:", "", OptionKind.INPUT_NODE, node_type=node_types.MOVIES)
    mask_in = JobOption("fn_mask", "Mask:", "", OptionKind.INPUT_NODE, node_type=node_types.MASK)
    return [
        _spec("vitreo.test.sleep", _sleep, [JobOption("seconds", "Seconds:", "30", OptionKind.NUMBER)],
              outputs=lambda p: [OutputNode("slept.txt", "LogFile.txt.vitreo.test")]),
        _spec("vitreo.test.busy", _busy, [JobOption("seconds", "Seconds:", "30", OptionKind.NUMBER)]),
        _spec("vitreo.test.consume", _consume, [movies_in, mask_in],
              outputs=lambda p: [OutputNode("seen.txt", SEEN_LABEL)],
              continue_rule=ContinueRule.NEW_INPUTS_ONLY, gentle_clean=("tmp_*.dat",), harsh_clean=("scratch",)),
        _spec("vitreo.test.copy", _copy, [JobOption("source_dir", "From:", "Staging"),
                                          JobOption("target_dir", "To:", "Movies")]),
        _spec("vitreo.test.ml", _ml, [movies_in, JobOption("fn_cont", "Continue from:", "", OptionKind.FILE)],
              continue_rule=ContinueRule.FROM_OPTIMISER, continue_option="fn_cont"),
        _spec("vitreo.test.crash", _crash),
    ]
