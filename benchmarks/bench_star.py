"""Benchmark: write and read a realistic RELION particles.star (default 1,000,000 rows).

Prints one JSON line: rows, columns, write_s, read_s, file_MB, peak_rss_MB (the larger
of the writing and the reading process), write_/read_peak_rss_MB, roundtrip_ok and,
with ``--starfile``, starfile_read_s (the ``starfile`` package, for comparison).
The read runs in a fresh process so its peak memory is its own.

    python benchmarks/bench_star.py [--rows N] [--starfile] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vitreo.io.star import Table, read_star, write_star


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM on Linux; ru_maxrss, which a child
    inherits from its parent, elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_particles(rows: int, seed: int = 0) -> dict[str, Table | dict]:
    """Optics + particles blocks shaped like a RELION 5 Refine3D run_data.star."""
    rng = np.random.default_rng(seed)
    per_mic = 400
    mic = np.arange(rows) // per_mic + 1
    index = np.arange(rows) % per_mic + 1
    mic_text = np.strings.zfill(mic.astype(str), 5)
    stack = np.strings.add(np.strings.add("Extract/job005/Movies/FoilHole_", mic_text), "_fractions.mrcs")
    image = np.strings.add(np.strings.add(np.strings.zfill(index.astype(str), 6), "@"), stack)
    micrograph = np.strings.add(np.strings.add("MotionCorr/job002/Movies/FoilHole_", mic_text), "_fractions.mrc")
    defocus = 8000 + 10000 * rng.random(mic.max() + 1)
    particles = Table({
        "rlnCoordinateX": rng.uniform(0, 4096, rows),
        "rlnCoordinateY": rng.uniform(0, 4096, rows),
        "rlnAutopickFigureOfMerit": rng.uniform(0, 5, rows),
        "rlnImageName": image.astype(object),
        "rlnMicrographName": micrograph.astype(object),
        "rlnOpticsGroup": np.ones(rows, dtype=np.int64),
        "rlnCtfMaxResolution": rng.uniform(2.5, 6, rows),
        "rlnCtfFigureOfMerit": rng.uniform(0.05, 0.3, rows),
        "rlnDefocusU": defocus[mic] + rng.normal(0, 50, rows),
        "rlnDefocusV": defocus[mic] - 300 + rng.normal(0, 50, rows),
        "rlnDefocusAngle": rng.uniform(-180, 180, rows),
        "rlnCtfBfactor": np.zeros(rows),
        "rlnCtfScalefactor": np.ones(rows),
        "rlnPhaseShift": np.zeros(rows),
        "rlnGroupNumber": mic % 50 + 1,
        "rlnAngleRot": rng.uniform(-180, 180, rows),
        "rlnAngleTilt": rng.uniform(0, 180, rows),
        "rlnAnglePsi": rng.uniform(-180, 180, rows),
        "rlnOriginXAngst": rng.normal(0, 3, rows),
        "rlnOriginYAngst": rng.normal(0, 3, rows),
        "rlnClassNumber": np.ones(rows, dtype=np.int64),
        "rlnNormCorrection": rng.normal(1, 0.1, rows),
        "rlnLogLikeliContribution": rng.uniform(5e4, 3e5, rows),
        "rlnMaxValueProbDistribution": rng.uniform(0, 1, rows),
        "rlnNrOfSignificantSamples": rng.integers(1, 200, rows),
        "rlnRandomSubset": rng.integers(1, 3, rows),
    })
    optics = Table({
        "rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1], "rlnMtfFileName": ["mtf_k3_300kV.star"],
        "rlnMicrographOriginalPixelSize": [0.83], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
        "rlnAmplitudeContrast": [0.1], "rlnImagePixelSize": [1.66], "rlnImageSize": [256],
        "rlnImageDimensionality": [2], "rlnCtfDataAreCtfPremultiplied": [0],
    })
    return {"optics": optics, "particles": particles}


def _read_child(path: Path, with_starfile: bool) -> dict:
    start = time.perf_counter()
    blocks = read_star(path)
    result = {"read_s": time.perf_counter() - start, "read_peak_rss_MB": _peak_rss_mb(),
              "read_rows": len(blocks["particles"])}
    if with_starfile:
        import starfile  # test oracle only; never imported by the package

        start = time.perf_counter()
        starfile.read(path)
        result["starfile_read_s"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--starfile", action="store_true", help="also time starfile.read (slow)")
    parser.add_argument("--keep", type=Path, help="write the file here instead of a temporary folder")
    parser.add_argument("--read-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_child:
        print(json.dumps(_read_child(args.read_child, args.starfile)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        path = folder / "particles.star"
        blocks = make_particles(args.rows)
        start = time.perf_counter()
        write_star(path, blocks)
        write_s = time.perf_counter() - start
        write_peak = _peak_rss_mb()
        child = subprocess.run(
            [sys.executable, __file__, "--read-child", str(path)] + (["--starfile"] if args.starfile else []),
            check=True, capture_output=True, text=True,
        )
        read = json.loads(child.stdout.strip().splitlines()[-1])
        again = read_star(path)["particles"]
        figures = {
            "rows": args.rows,
            "columns": len(blocks["particles"].labels),
            "write_s": round(write_s, 3),
            "read_s": round(read["read_s"], 3),
            "file_MB": round(path.stat().st_size / 1e6, 1),
            "peak_rss_MB": round(max(write_peak, read["read_peak_rss_MB"]), 1),
            "write_peak_rss_MB": round(write_peak, 1),
            "read_peak_rss_MB": round(read["read_peak_rss_MB"], 1),
            "roundtrip_ok": bool(read["read_rows"] == args.rows
                                 and again.equals(blocks["particles"], rtol=1e-5, atol=1e-5)),
        }
        if "starfile_read_s" in read:
            figures["starfile_read_s"] = round(read["starfile_read_s"], 3)
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
