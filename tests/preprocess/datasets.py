"""Test data shared by the preprocessing and job tests: simulated datasets, made once per test session,
and synthetic CTF spectra.

Each is written into its own temporary folder the first time it is asked for and removed when
the session ends. Sizes follow the ``tiny`` preset (the acceptance tests of issue 6).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import torch

from vitreo.em.ctf import CtfParams, ctf_2d
from vitreo.em.fourier import centred_spectrum
from vitreo.preprocess.ctf_model import CtfFitParams, Optics
from vitreo.simulate import SimulatedDataset, preset, simulate_dataset

#: B-factor (px²) for the 4.5 Å pixels of ``tiny``: RELION's 150 px² suits ~1 Å pixels.
TINY_BFACTOR = 10.0


def _make(name: str, **overrides: object) -> SimulatedDataset:
    folder = Path(tempfile.mkdtemp(prefix=f"vitreo-{name}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return simulate_dataset(folder / name, preset("tiny", **overrides))


@functools.cache
def tiny_movies() -> SimulatedDataset:
    """The ``tiny`` preset: 2 movies of 512² px, 16 frames, 4.5 Å/px, with motion truth."""
    return _make("tiny")


@functools.cache
def tiny_clean_movie() -> SimulatedDataset:
    """The first of those movies without shot noise (the signal alone; same motion), float32."""
    return _make("tiny-clean", n_micrographs=1, shot_noise=False)


@functools.cache
def ctf_micrographs(dose_per_frame: float = 1.0) -> SimulatedDataset:
    """Three 2048² tiny-preset micrographs (320 particles each) at a given dose per frame (16 frames).

    As large as the tutorial's micrographs: at 4.5 Å/px the detector MTF leaves few Thon rings
    above the shot noise, and the 49 tiles of a 1024² micrograph do not average enough of them
    (defocus errors of several thousand Å on some micrographs, whatever the seed)."""
    return _make(f"ctf-{dose_per_frame}", n_micrographs=3, micrographs_only=True, micrograph_size=(2048, 2048),
                 particles_per_micrograph=320, seed=5, dose_per_frame=dose_per_frame)


def synthetic_spectrum(params: CtfFitParams, optics: Optics, box: int = 256, pixel: float = 1.5, noise: float = 0.05,
                       seed: int = 0) -> torch.Tensor:
    """A centred amplitude spectrum: falling background + envelope · CTF² + relative noise."""
    ctf = ctf_2d(CtfParams.from_values(defocus_u=params.defocus_u, defocus_v=params.defocus_v,
                                       defocus_angle=params.angle, phase_shift=params.phase_shift,
                                       voltage=optics.voltage, cs=optics.cs,
                                       amplitude_contrast=optics.amplitude_contrast, dtype=torch.float64), box, pixel)[0]
    k = torch.arange(box, dtype=torch.float64) - box // 2
    r = torch.sqrt(k[:, None] ** 2 + k[None, :] ** 2) / box
    background = 1.0 + 4.0 * torch.exp(-r / 0.08)
    envelope = 0.6 * torch.exp(-((r / 0.35) ** 2))
    clean = background + envelope * centred_spectrum(ctf.square(), (box, box))
    rng = torch.Generator().manual_seed(seed)
    return clean * (1.0 + noise * torch.randn(clean.shape, generator=rng, dtype=torch.float64))


@functools.cache
def small_ctf_micrographs() -> SimulatedDataset:
    """Six 1024² tiny-preset micrographs (80 particles each), dose 1 e/Å² per frame: 49 tiles of 256² give
    a noisy rotational average with two to five Thon rings between 30 and 10 Å."""
    return _make("ctf-small", n_micrographs=6, micrographs_only=True, micrograph_size=(1024, 1024),
                 particles_per_micrograph=80, seed=5)
