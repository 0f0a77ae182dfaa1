"""Benchmark: CTF estimation of ``vitreo simulate --preset tutorial`` micrographs (2048², 3.54 Å/px).

Each movie is summed with its true motion (the micrograph motion correction would give; a
``--micrographs-only`` dataset's micrographs are used as they are),
and the CTF is estimated as CtfFind does with RELION's defaults (box 512, 30–5 Å, defocus
5,000–50,000 Å in 500 Å steps, dAst 100 Å) from the tile-averaged spectrum. Prints one JSON
line: seconds per micrograph (spectrum + fit), the median absolute error of the mean
defocus, the astigmatism-angle errors where the true astigmatism exceeds 500 Å, and the median
fit resolution. Also fits the real power spectrum of the RELION 5 betagal tutorial when the
shared data are present (``--real``), reporting its defocus.

    python benchmarks/bench_ctffind.py [--micrographs 15] [--threads 2] [--keep DIR] [--real PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vitreo.io.mrc import read_mrc
from vitreo.io.star import read_star
from vitreo.preprocess.ctf_estimation import CtfSettings, estimate_ctf, micrograph_spectrum
from vitreo.preprocess.ctf_model import Optics
from vitreo.em.motion_polynomial import PolynomialMotion
from vitreo.preprocess.summation import motion_corrected_sum
from vitreo.simulate import preset, simulate_dataset

REAL = "../shared/data/images/relion5_betagal_sppractice/MotionCorr/job002/Movies/20170629_00021_frameImage_PS.mrc"


def angle_error(a: float, b: float) -> float:
    return abs((a - b + 90.0) % 180.0 - 90.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micrographs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep (or reuse) the simulated data in")
    parser.add_argument("--real", type=Path, default=Path(REAL))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_ctffind_"))
    root = base / "tutorial"
    try:
        if not (root / "truth").exists():
            simulate_dataset(root, preset("tutorial", n_micrographs=args.micrographs))
        blocks = read_star(root / "truth" / "micrographs.star")
        optics, table = blocks["optics"], blocks["micrographs"]
        scope = Optics(float(optics["rlnVoltage"][0]), float(optics["rlnSphericalAberration"][0]),
                       float(optics["rlnAmplitudeContrast"][0]))
        settings = CtfSettings(scope)
        pixel = float(optics["rlnMicrographOriginalPixelSize"][0])
        micrographs = []
        for index, name in enumerate(table["rlnMicrographName"][: args.micrographs]):
            if not name.endswith(".mrcs"):  # a micrographs-only dataset: no movie to sum
                micrographs.append(read_mrc(root / name)[0])
                continue
            motion = read_star(root / table["rlnMicrographMetadata"][index])
            g = motion["global_shift"]
            shifts = torch.as_tensor(np.stack([g["rlnMicrographShiftX"], g["rlnMicrographShiftY"]], 1), dtype=torch.float32)
            frames = torch.as_tensor(read_mrc(root / name)[0], dtype=torch.float32)
            local = PolynomialMotion(np.asarray(motion["local_motion_model"]["rlnMotionModelCoeff"]),
                                     (frames.shape[-1], frames.shape[-2]))
            micrographs.append(motion_corrected_sum(frames, shifts, local).numpy())
        estimate_ctf(micrograph_spectrum(micrographs[0], settings.box), pixel, settings)  # warm-up
        times, cpu_times, mean_errors, angle_errors, carbon, resolutions = [], [], [], [], [], []
        for index, image in enumerate(micrographs):
            start, cpu_start = time.perf_counter(), time.process_time()
            fit = estimate_ctf(micrograph_spectrum(image, settings.box), pixel, settings)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
            u, v, angle = (float(table[label][index]) for label in ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle"))
            mean_errors.append(abs(fit.params.mean_defocus - 0.5 * (u + v)))
            if u - v > 500:
                angle_errors.append(angle_error(fit.params.angle, angle))
                carbon.append(float(table["rlnVitreoCarbonFraction"][index]))
            resolutions.append(fit.fit_resolution)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    report = {
        "benchmark": "ctffind", "preset": "tutorial", "micrographs": len(times), "size": "2048x2048", "box": 512,
        "threads": args.threads, "s_per_micrograph": round(statistics.median(times), 2),
        "s_per_micrograph_max": round(max(times), 2), "cpu_s_per_micrograph": round(statistics.median(cpu_times), 2),
        "defocus_median_abs_error_A": round(statistics.median(mean_errors), 1),
        "defocus_max_abs_error_A": round(max(mean_errors), 1),
        "astigmatic_micrographs": len(angle_errors),
        "angle_error_median_deg": round(statistics.median(angle_errors), 2) if angle_errors else None,
        "angle_error_max_deg": round(max(angle_errors), 2) if angle_errors else None,
        "angle_errors_deg": [round(e, 1) for e in angle_errors], "carbon_fractions": [round(c, 2) for c in carbon],
        "fit_resolution_median_A": round(statistics.median(resolutions), 2),
    }
    if args.real.exists():
        image, ps_pixel = read_mrc(args.real)
        start = time.perf_counter()
        real = estimate_ctf(torch.as_tensor(image), ps_pixel, CtfSettings(Optics(200.0, 1.4, 0.1)))
        p = real.params
        report.update(real_defocus_u_A=round(p.defocus_u, 1), real_defocus_v_A=round(p.defocus_v, 1),
                      real_angle_deg=round(p.angle, 2), real_score=round(real.score, 3),
                      real_fit_resolution_A=round(real.fit_resolution, 2),
                      real_s=round(time.perf_counter() - start, 2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
