"""The CtfFind job type (RELION ``relion.ctffind.ctffind4``): CTF estimation of micrographs.

vitreo's own implementation of CTFFIND4's approach (``vitreo.preprocess.ctf_estimation``),
with RELION 5's parameters and defaults, writing what RELION + CTFFIND write: per micrograph
the diagnostic ``.ctf`` image, ``.txt``, ``_avrot.txt`` and ``_ctffind4.log``
(``ctffind_micrograph``), and for the job micrographs_ctf.star and logfile.pdf
(``ctffind_outputs``). The CTFFIND executable option is accepted for RELION compatibility
and ignored.

Micrographs run in parallel (``nr_mpi`` worker processes, or Dask workers). A micrograph
that cannot be fitted is reported and skipped; the job fails only when no micrograph has a result.
Continue re-fits only micrographs without a log file (delete one log and continue to
re-fit that micrograph). With ``use_given_ps`` but no rlnCtfPowerSpectrum in the input
(e.g. imported micrographs), spectra are computed from the micrographs, with a note in the log.
"""

from __future__ import annotations

from pathlib import Path

from vitreo.io.errors import InputError
from vitreo.io.optics import optics_row_index
from vitreo.io.star import Table, read_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.ctffind_micrograph import MicrographOutcome, MicrographTask, output_root, process_micrograph
from vitreo.jobs.ctffind_outputs import ctf_rows, write_logfile, write_micrographs_ctf
from vitreo.jobs.options import JobOption, OptionKind, Params
from vitreo.jobs.running_options import running_options
from vitreo.jobs.spec import ContinueRule, JobSpec, OutputNode
from vitreo.preprocess.ctf_estimation import CtfSettings
from vitreo.preprocess.ctf_model import Optics

IO_TAB, CTFFIND_TAB = "I/O", "CTFFIND-4.1"
CTFFIND_MICS = "MicrographGroupMetadata.star.relion.ctf"
CTFFIND_LOG = "LogFile.pdf.relion.ctffind"


def _options() -> tuple[JobOption, ...]:
    number, boolean = OptionKind.NUMBER, OptionKind.BOOLEAN
    return (
        JobOption("input_star_mics", "Input micrographs STAR file:", "", OptionKind.INPUT_NODE, IO_TAB,
                  "A STAR file with all micrographs to run CTFFIND or Gctf on", node_type=node_types.MICROGRAPHS,
                  pattern="STAR files (*.star)"),
        JobOption("use_noDW", "Use micrograph without dose-weighting?", "No", boolean, IO_TAB,
                  "If set to Yes, the CTF estimation will be done using the micrograph without dose-weighting as in "
                  "rlnMicrographNameNoDW (_noDW.mrc from MotionCor2). If set to No, the normal rlnMicrographName "
                  "will be used."),
        JobOption("do_phaseshift", "Estimate phase shifts?", "No", boolean, IO_TAB,
                  "If set to Yes, CTFFIND4 will estimate the phase shift, e.g. as introduced by a Volta phase-plate"),
        JobOption("phase_min", "Phase shift (deg) - Min:", "0", number, IO_TAB,
                  "Minimum, maximum and step size (in degrees) for the search of the phase shift"),
        JobOption("phase_max", "Phase shift (deg) - Max:", "180", number, IO_TAB,
                  "Minimum, maximum and step size (in degrees) for the search of the phase shift"),
        JobOption("phase_step", "Phase shift (deg) - Step:", "10", number, IO_TAB,
                  "Minimum, maximum and step size (in degrees) for the search of the phase shift"),
        JobOption("dast", "Amount of astigmatism (A):", "100", number, IO_TAB,
                  "CTFFIND's dAst parameter, GCTFs -astm parameter: the expected astigmatism; fits are restrained "
                  "by (U − V)² / (2 · dAst² · n_pixels), as in CTFFIND. 0: no restraint.", minimum=0, maximum=2000),
        JobOption("use_given_ps", "Use power spectra from MotionCorr job?", "Yes", boolean, CTFFIND_TAB,
                  "If set to Yes, the CTF estimation will be done using power spectra calculated during motion "
                  "correction. You must use this option if you used float16 in motion correction."),
        JobOption("fn_ctffind_exe", "CTFFIND-4.1 executable:", "", OptionKind.FILE, CTFFIND_TAB,
                  "Not used: vitreo estimates CTFs itself. Kept for RELION compatibility.", pattern="*"),
        JobOption("slow_search", "Use exhaustive search?", "No", boolean, CTFFIND_TAB,
                  "If set to Yes, the astigmatism search is finer (50 Å and 5° steps instead of 100 Å and 15°). Worth "
                  "trying when astigmatism and/or phase shifts are difficult to fit."),
        JobOption("box", "FFT box size (pix):", "512", number, CTFFIND_TAB, "CTFFIND's Box parameter",
                  minimum=64, maximum=1024),
        JobOption("resmin", "Minimum resolution (A):", "30", number, CTFFIND_TAB, "CTFFIND's ResMin parameter",
                  minimum=10, maximum=200),
        JobOption("resmax", "Maximum resolution (A):", "5", number, CTFFIND_TAB, "CTFFIND's ResMax parameter",
                  minimum=1, maximum=20),
        JobOption("dfmin", "Minimum defocus value (A):", "5000", number, CTFFIND_TAB, "CTFFIND's dFMin parameter",
                  minimum=0, maximum=25000),
        JobOption("dfmax", "Maximum defocus value (A):", "50000", number, CTFFIND_TAB, "CTFFIND's dFMax parameter",
                  minimum=20000, maximum=100000),
        JobOption("dfstep", "Defocus step size (A):", "500", number, CTFFIND_TAB, "CTFFIND's FStep parameter",
                  minimum=200, maximum=2000),
        JobOption("ctf_win", "Estimate CTF on window size (pix) ", "-1", number, CTFFIND_TAB,
                  "If a positive value is given, a squared window of this size at the center of the micrograph will "
                  "be used to estimate the CTF. This may be useful to exclude parts of the micrograph that are "
                  "unsuitable for CTF estimation, e.g. the labels at the edge of phtographic film. The original "
                  "micrograph will be used (i.e. this option will be ignored) if a negative value is given. (Not "
                  "applicable to power spectra from motion correction.)"),
        *running_options(has_mpi=True, has_threads=False),
    )


def _validate(params: Params) -> None:
    if not params.text("input_star_mics"):
        raise ValueError("--input_star_mics is empty: give the micrographs STAR file of a MotionCorr or Import job")
    if not 0 < params.number("resmax") < params.number("resmin"):
        raise ValueError("need 0 < --resmax < --resmin (Å)")
    if not 0 <= params.number("dfmin") < params.number("dfmax") or params.number("dfstep") <= 0:
        raise ValueError("need 0 ≤ --dfmin < --dfmax and a positive --dfstep (Å)")
    if params.flag("do_phaseshift") and (params.number("phase_step") <= 0
                                         or params.number("phase_max") < params.number("phase_min")):
        raise ValueError("need --phase_min ≤ --phase_max and a positive --phase_step (degrees)")
    if params.integer("box") % 2:
        raise ValueError("--box must be even")


def _output_nodes(params: Params) -> list[OutputNode]:
    return [OutputNode("micrographs_ctf.star", CTFFIND_MICS), OutputNode("logfile.pdf", CTFFIND_LOG)]


def ctf_settings(params: Params, optics: Optics) -> CtfSettings:
    """The search settings of a job for one optics group."""
    phases = None
    if params.flag("do_phaseshift"):
        phases = (params.number("phase_min"), params.number("phase_max"), params.number("phase_step"))
    return CtfSettings(optics=optics, res_min=params.number("resmin"), res_max=params.number("resmax"),
                       defocus_min=params.number("dfmin"), defocus_max=params.number("dfmax"),
                       defocus_step=params.number("dfstep"), astigmatism=params.number("dast"), phase_search=phases,
                       exhaustive=params.flag("slow_search"), box=params.integer("box"),
                       window=params.integer("ctf_win"))


def run(job_dir: Path, params: Params, ctx: JobContext) -> None:
    """Fit every micrograph without a log, then write micrographs_ctf.star and logfile.pdf."""
    path = params.text("input_star_mics")
    blocks = read_star(path)
    table, optics = blocks.get("micrographs"), blocks.get("optics")
    if not isinstance(table, Table) or "rlnMicrographName" not in table:
        raise InputError(path, "expected a data_micrographs table with rlnMicrographName")
    rows = optics_row_index(table, optics, "micrographs")
    micrographs = [str(m) for m in table["rlnMicrographName"]]
    use_ps = params.flag("use_given_ps") and "rlnCtfPowerSpectrum" in table
    if params.flag("use_given_ps") and not use_ps:
        ctx.log.info(" no rlnCtfPowerSpectrum in %s: estimating spectra from the micrographs", path)
    use_no_dw = params.flag("use_noDW") and not use_ps
    if use_no_dw and "rlnMicrographNameNoDW" not in table:
        raise InputError(path, "--use_noDW Yes but the input has no rlnMicrographNameNoDW (save non-dose-weighted "
                               "micrographs in MotionCorr)")
    images = [str(v) for v in table["rlnCtfPowerSpectrum" if use_ps else
                                    "rlnMicrographNameNoDW" if use_no_dw else "rlnMicrographName"]]
    roots = [output_root(str(job_dir), image) for image in images]
    tasks = []
    for image, root, row in zip(images, roots, rows):
        if ctx.is_continue and Path(root + "_ctffind4.log").exists():
            continue
        optics_row = {label: optics[label][row] for label in optics.labels}  # type: ignore[union-attr]
        pixel = float(optics_row.get("rlnMicrographPixelSize", optics_row.get("rlnMicrographOriginalPixelSize", 0)))
        scope = Optics(float(optics_row["rlnVoltage"]), float(optics_row["rlnSphericalAberration"]),
                       float(optics_row["rlnAmplitudeContrast"]))
        tasks.append(MicrographTask(image, use_ps, pixel, root, ctf_settings(params, scope)))
    workers = ctx.executor.workers
    ctx.log.info(" Estimating the CTF of %d micrograph(s) (%d done before) with %d process(es)", len(tasks),
                 len(images) - len(tasks), workers)
    failures = _fit_all(tasks, ctx)
    groups = [int(g) for g in table["rlnOpticsGroup"]]
    done, missing = ctf_rows(micrographs, groups, roots, images if use_no_dw else None, params.flag("do_phaseshift"))
    if not done:
        raise InputError(path, f"no micrograph could be fitted ({failures} failed)")
    for micrograph in missing:
        ctx.log.info(" WARNING: no CTF results for %s; it is left out of micrographs_ctf.star", micrograph)
    write_micrographs_ctf(job_dir, optics, done)  # type: ignore[arg-type]
    ctx.log.info(" Written %s with %d micrograph(s)", job_dir / "micrographs_ctf.star", len(done))
    write_logfile(job_dir, done)
    ctx.log.info(" Written %s", job_dir / "logfile.pdf")


def _fit_all(tasks: list[MicrographTask], ctx: JobContext) -> int:
    ctx.progress.start("CTF estimation", len(tasks))
    failures = 0
    for index, outcome in ctx.executor.map(process_micrograph, tasks, 1):
        task = tasks[index]
        if isinstance(outcome, MicrographOutcome):
            ctx.log.info(" %s: defocus %.0f, %.0f Å; fit to %.1f Å", task.image, outcome.defocus_u,
                         outcome.defocus_v, outcome.fit_resolution)
        else:
            failures += 1
            ctx.log.info(" WARNING: skipped %s: %s", task.image, outcome)
        ctx.progress.advance()
        ctx.check_abort()
    ctx.progress.finish()
    return failures


def job_spec() -> JobSpec:
    """The CtfFind job type."""
    return JobSpec(
        directory="CtfFind",
        type_label="relion.ctffind",
        title="CTF estimation",
        options=_options(),
        run=run,
        output_nodes=_output_nodes,
        label_for=lambda params: "relion.ctffind.ctffind4",
        validate=_validate,
        continue_rule=ContinueRule.NEW_INPUTS_ONLY,
        hidden_name=".gui_ctffind",
        summary="Estimate the CTF of micrographs (CTFFIND4's approach): defocus, astigmatism, phase shift, fit quality.",
    )


__all__ = ["job_spec", "run", "ctf_settings"]
