"""Sorting on a simulated particle stack with known views, in-plane angles and junk."""

from __future__ import annotations

import numpy as np
import torch

from tests.picking.datasets import tiny_dataset
from vitreo.em.ctf import CtfParams
from vitreo.em.geometry import euler_degrees_to_matrix
from vitreo.em.projector import Projector
from vitreo.io.mrc import read_mrc
from vitreo.picking.evaluate import roc_auc
from vitreo.picking.sorting import SortSettings, robust_zscores, shift_grid, sort_particles
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack

VIEWS = ((0.0, 0.0), (90.0, 90.0), (0.0, 90.0))  # (rot, tilt) of the three references


def _stack(n: int = 240):
    volume, pixel = read_mrc(tiny_dataset() / "truth" / "map.mrc")
    generator = torch.Generator().manual_seed(3)
    view = torch.randint(0, len(VIEWS), (n,), generator=generator)
    psi = torch.rand(n, generator=generator) * 360.0
    rot = torch.tensor([VIEWS[v][0] for v in view.tolist()])
    tilt = torch.tensor([VIEWS[v][1] for v in view.tolist()])
    settings = StackSettings(n_particles=n, snr=0.05, junk_fraction=0.15, max_origin=2.0, max_astigmatism=0.0)
    stack = simulate_particle_stack(torch.from_numpy(volume), pixel, settings, generator,
                                    rotations=euler_degrees_to_matrix(rot, tilt, psi).float())
    return stack, view.numpy(), psi.double().numpy(), pixel


def test_junk_scores_worst_and_alignments_are_recovered() -> None:
    stack, view, psi, pixel = _stack()
    references = _projections(VIEWS)
    truth = stack.truth
    ctf = CtfParams.from_values(defocus_u=truth["rlnDefocusU"], defocus_v=truth["rlnDefocusV"], voltage=300.0,
                                cs=2.7, amplitude_contrast=0.1)
    origins = np.stack([truth["rlnOriginXAngst"], truth["rlnOriginYAngst"]], 1) / pixel
    junk = truth["rlnVitreoIsJunk"] == 1
    noisy_psi = psi + np.random.default_rng(0).uniform(-4, 4, len(psi))  # as from picking at 10°
    result = sort_particles(torch.from_numpy(stack.images), references, pixel, view, noisy_psi, np.zeros_like(origins),
                            ctf, SortSettings(mask_radius=100 / pixel, psi_step=10.0, max_shift=4.0))
    assert roc_auc(result.zscore, junk) >= 0.9
    good = ~junk
    assert np.all(result.reference[good] == view[good])
    error = (result.psi[good] - psi[good] + 180) % 360 - 180
    assert np.mean(np.abs(error) <= 10.0) > 0.95  # within the 10° step searched


def _projections(views: tuple[tuple[float, float], ...]) -> torch.Tensor:
    """Projections (psi 0) of the true map along the given (rot, tilt) views."""
    volume, _ = read_mrc(tiny_dataset() / "truth" / "map.mrc")
    rot, tilt = (torch.tensor(values, dtype=torch.float64) for values in zip(*views))
    matrices = euler_degrees_to_matrix(rot, tilt, torch.zeros_like(rot)).float()
    box = volume.shape[-1]
    return torch.fft.irfft2(Projector(torch.from_numpy(volume)).project(matrices), s=(box, box))


def test_robust_zscores_ignore_outliers_and_shift_grid_is_a_disc() -> None:
    values = torch.tensor([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 50.0])
    z = robust_zscores(values)
    assert z[-1] > 100 and torch.all(z[:-1].abs() < 2)
    assert len(shift_grid(1.0)) == 5 and len(shift_grid(2.0)) == 13
