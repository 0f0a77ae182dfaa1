"""Gold-standard 3D auto-refinement on a tiny simulated data set: convergence without intervention,
resolution and orientations against the truth, RELION's Auto messages and files, continuation;
and the pieces: local-search priors and the auto-sampling decisions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.ml.phantom3d import blob_phantom, simulate, write_map
from vitreo.em.filters import lowpass
from vitreo.em.fsc import fsc, resolution_at
from vitreo.em.geometry import euler_to_matrix
from vitreo.em.symmetry import proper_operators
from vitreo.io.errors import InputError
from vitreo.io.star import read_star
from vitreo.ml.auto_sampling import AutoSampling
from vitreo.ml.local_search import LocalPrior
from vitreo.ml.refine3d import Refine3DSettings, median_angular_error, run_refine3d

BOX, PIXEL, N, SNR = 24, 8.0, 150, 1.0
SETTINGS = Refine3DSettings(
    ini_high=40.0, healpix_order=2, local_healpix_order=3, particle_diameter=150.0, offset_range=3.0, offset_step=2.0,
    max_iter=16,
)


@pytest.fixture(scope="module")
def refined(tmp_path_factory: pytest.TempPathFactory) -> dict:
    project = tmp_path_factory.mktemp("refine3d")
    truth = blob_phantom(BOX)
    stack, star = simulate(truth, PIXEL, N, SNR, 11, project)
    reference = write_map(project / "ref.mrc", lowpass(truth.double(), 40.0, PIXEL, ndim=3).float(), PIXEL)
    (project / "Refine3D").mkdir()
    lines: list[str] = []
    result = run_refine3d(star, reference, project / "Refine3D/run", SETTINGS, project_dir=project, log=lines.append)
    angles = np.stack([stack.truth[k] for k in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")], 1)
    return {"project": project, "result": result, "log": lines, "truth": truth, "angles": angles, "star": star,
            "reference": reference}


@pytest.mark.slow
def test_refinement_converges_to_the_truth(refined: dict) -> None:
    result, log = refined["result"], refined["log"]
    assert any("Auto-refine: Refinement has converged" in line for line in log)  # no max_iter stop
    assert any("Auto-refine: Angular step= 3.75 degrees; local searches= true" in line for line in log)
    # gold standard at 0.143 within reach of Nyquist (16 Å) for 150 particles: measured 26 Å at SNR 1
    assert result.resolution <= 34.0, result.resolution
    against_truth = resolution_at(fsc(result.map, refined["truth"]), 0.5, PIXEL, BOX)
    assert against_truth <= 36.0, against_truth  # measured 29 Å
    error = median_angular_error(result.state, refined["angles"], "C1")
    assert error <= 7.0, error  # measured 5.7-6.3° (final step 1.9°; resolution-limited)


@pytest.mark.slow
def test_outputs_are_relion_files(refined: dict) -> None:
    project = refined["project"]
    files = refined["result"].files
    for key in ("half1", "half2", "map", "model", "data"):
        assert files[key].is_file(), key
    model = read_star(files["model"])
    assert {"model_general", "model_classes", "model_class_1", "model_groups"} <= set(model)
    curve = np.asarray(model["model_class_1"]["rlnGoldStandardFsc"])
    assert curve[1] > 0.9 and curve[-1] < 0.5
    data = read_star(files["data"])["particles"]
    assert set(np.unique(data["rlnRandomSubset"])) == {1, 2}
    for label in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginXAngst", "rlnClassNumber"):
        assert label in data
    first = read_star(project / "Refine3D/run_it001_optimiser.star")["optimiser_general"]
    assert first["rlnModelStarFile2"].endswith("run_it001_half2_model.star")
    assert (project / "Refine3D/run_it001_half1_class001.mrc").is_file()
    assert (project / "Refine3D/run_it001_half2_class001.mrc").is_file()


@pytest.mark.slow
def test_continue_from_an_optimiser_file(refined: dict) -> None:
    project = refined["project"]
    settings = Refine3DSettings(**{**SETTINGS.__dict__, "max_iter": 3, "symmetry": "C2"})  # the run's C1 wins
    lines: list[str] = []
    result = run_refine3d(None, None, project / "Refine3D/cont", settings, project_dir=project,
                          continue_from=project / "Refine3D/run_it002_optimiser.star", log=lines.append)
    assert (project / "Refine3D/cont_it003_half2_model.star").is_file()
    assert any("Continuing in C1" in line for line in lines)
    assert result.symmetry == "C1"
    assert read_star(project / "Refine3D/cont_it003_sampling.star")["sampling_general"]["rlnSymmetryGroup"] == "C1"
    assert not (project / "Refine3D/cont_it001_data.star").exists()
    assert any(line.startswith(" Auto-refine: Iteration= 3") for line in lines)
    saved = read_star(project / "Refine3D/run_it002_data.star")["particles"]
    assert np.array_equal(np.asarray(saved["rlnRandomSubset"]), result.subsets.numpy())  # halves kept


@pytest.mark.slow
def test_a_fine_initial_sampling_searches_locally_from_the_first_iteration(refined: dict) -> None:
    """As RELION: an initial HEALPix order at or above the local-search order starts with local
    searches around the input orientations (here those of the converged run), σ = 2 × the step."""
    project = refined["project"]
    settings = Refine3DSettings(**{**SETTINGS.__dict__, "healpix_order": 3, "max_iter": 3, "offset_range": 2.0,
                                   "offset_step": 1.0})  # the converged run's offsets were finer than the first's
    lines: list[str] = []
    result = run_refine3d(project / "Refine3D/run_data.star", refined["reference"], project / "Refine3D/local",
                          settings, project_dir=project, log=lines.append)
    first = read_star(project / "Refine3D/local_it001_optimiser.star")["optimiser_general"]
    assert float(first["rlnVitreoSigmaAngles"]) == pytest.approx(2 * 3.75)
    error = median_angular_error(result.state, refined["angles"], "C1")
    assert error <= 7.0, error  # measured 6.2° (the converged run's: 6.1°)
    with pytest.raises(InputError, match="need the input orientations; missing rlnAngleRot"):
        run_refine3d(refined["star"], refined["reference"], project / "Refine3D/none", settings, project_dir=project)


def test_reference_of_another_box_or_symmetry_is_refused(refined: dict, tmp_path: Path) -> None:
    project = refined["project"]
    small = write_map(tmp_path / "small.mrc", torch.zeros(16, 16, 16), PIXEL)
    with pytest.raises(InputError, match="--rescale"):
        run_refine3d(refined["star"], small, tmp_path / "run", SETTINGS, project_dir=project)
    with pytest.raises(InputError, match="does not have D2 symmetry"):
        run_refine3d(refined["star"], refined["reference"], tmp_path / "run",
                     Refine3DSettings(**{**SETTINGS.__dict__, "symmetry": "D2"}), project_dir=project)
    bad_mask = write_map(tmp_path / "mask.mrc", 2.0 * torch.ones(BOX, BOX, BOX), PIXEL)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        run_refine3d(refined["star"], refined["reference"], tmp_path / "run", SETTINGS, mask=bad_mask, project_dir=project)


def test_local_prior_is_a_symmetry_aware_gaussian() -> None:
    angles = torch.tensor([[0.3, 1.0, 0.5]], dtype=torch.float64)
    prior = LocalPrior.around(angles, "D2", sigma_deg=2.0)
    base = euler_to_matrix(*angles[0])
    tilt = torch.deg2rad(torch.tensor([0.0, 3.0, 7.0]))  # 0, 1.5 and 3.5 σ away
    candidates = torch.stack([base @ euler_to_matrix(torch.tensor(0.0), t, torch.tensor(0.0)) for t in tilt.double()])
    mate = base @ proper_operators("D2")[2]  # the same view of a D2 map
    log_p = prior.log_prior(torch.cat([candidates, mate[None]]).float())[0]
    assert torch.allclose(log_p[:2], torch.tensor([0.0, -0.5 * 1.5**2]), atol=2e-3)
    assert log_p[2] == -math.inf and abs(float(log_p[3])) < 1e-3
    kept = prior.candidates(torch.cat([candidates, mate[None]]).float())
    assert kept.tolist() == [0, 1, 3]


@pytest.mark.parametrize("symmetry, sigma", [("D2", 1.0), ("C1", 2.5), ("D2", 8.0)])
def test_local_candidates_by_direction_equal_the_full_scan(symmetry: str, sigma: float) -> None:
    from vitreo.em.geometry import matrix_to_euler, random_rotations
    from vitreo.ml.sampling import DirectionSampling

    grid = DirectionSampling(4, symmetry=symmetry, perturbation=0.3, perturb_directions=True)
    rotations = grid.coarse_matrices().float()
    previous = torch.stack(matrix_to_euler(random_rotations(100, generator=torch.Generator().manual_seed(2)).double()), -1)
    prior = LocalPrior.around(previous, symmetry, sigma)
    full = prior.candidates(rotations)
    assert torch.equal(prior.candidates(rotations, len(grid.psi)), full)
    assert 0 < len(full) < len(rotations)


def test_auto_sampling_follows_relion() -> None:
    messages: list[str] = []
    state = AutoSampling(healpix_order=2, offset_range=5.0, offset_step=2.0, local_order=3)
    state = state.after_iteration(30.0, 10.0, 1.0, 0.0, 5.0, 1.0, messages.append)  # improving: no change
    assert state.healpix_order == 2 and not state.converged
    state = state.after_iteration(30.0, 11.0, 1.1, 0.0, 5.0, 1.0, messages.append)  # stalled: finer, local
    assert state.healpix_order == 3 and state.sigma_angles == pytest.approx(2 * 3.75)
    assert state.offset_step == pytest.approx(1.5) and state.offset_range == pytest.approx(5.5)  # 5 x the change
    assert " Auto-refine: Angular step= 3.75 degrees; local searches= true" in messages
    state = state.after_iteration(25.0, 3.0, 0.5, 0.0, 6.0, 1.0, messages.append)
    state = state.after_iteration(25.0, 3.1, 0.6, 0.0, 6.0, 1.0, messages.append)  # stalled, 3.75 < 0.75·6.0
    assert state.fine_enough and state.converged and state.healpix_order == 3
    assert messages[-1].startswith(" Auto-refine: Refinement has converged")


def test_small_changes_count_as_stalled_and_steps_never_coarsen() -> None:
    """RELION 3.1's rule: orientation and offset changes below 40% of the fine step count as stalled
    even while they still shrink; a new offset step coarser than the current one is not taken."""
    log: list[str] = []
    start = AutoSampling(healpix_order=2, offset_range=2.0, offset_step=0.5, local_order=5)  # 7.5°, fine 0.25 px
    state = start.after_iteration(30.0, 4.0, 0.2, 0.0, 8.0, 2.0, log.append)
    state = state.after_iteration(30.0, 3.5, 0.15, 0.0, 8.0, 2.0, log.append)  # 3.5 > 0.4·7.5: still improving
    assert state.iter_without_changes == 0 and state.healpix_order == 2
    state = state.after_iteration(30.0, 2.5, 0.05, 0.0, 8.0, 2.0, log.append)  # 2.5 < 3.0, 0.05 < 0.1: stalled
    assert state.healpix_order == 3  # finer angles ...
    assert state.offset_step == pytest.approx(0.5) and state.offset_range == pytest.approx(2.0)  # ... same offsets


def test_faster_sampling_ignores_angle_changes_and_follows_the_resolution() -> None:
    """auto_faster (--auto_ignore_angles --auto_resol_angles): with the resolution stalled, changing
    angles no longer hold the sampling (nor the convergence) back; with the resolution still improving,
    the step goes finer once it rotates the particle's edge by more than the resolution."""
    log: list[str] = []
    common = dict(healpix_order=2, offset_range=2.0, offset_step=0.5, local_order=5)  # 7.5° (fine), 0.25 px
    for faster, order in ((False, 2), (True, 3)):
        state = AutoSampling(**common, faster=faster, particle_radius=100.0)
        state = state.after_iteration(30.0, 20.0, 1.0, 0.0, 8.0, 2.0, log.append)
        state = state.after_iteration(30.0, 15.0, 0.8, 0.0, 8.0, 2.0, log.append)  # no gain; angles still changing
        assert state.healpix_order == order
    # improving resolution: 20 Å at a 100-Å radius needs 11.5° > 7.5°, 10 Å needs 5.7° < 7.5°
    state = AutoSampling(**common, faster=True, particle_radius=100.0).after_iteration(20.0, 20.0, 1.0, 0.0, 8.0, 2.0, log.append)
    assert state.healpix_order == 2
    state = state.after_iteration(10.0, 15.0, 0.8, 0.0, 8.0, 2.0, log.append)
    assert state.healpix_order == 3
    # fine enough (3.75° < 0.75 × 8°) and the resolution stalled: converged though the angles change
    state = AutoSampling(**{**common, "healpix_order": 3}, faster=True, particle_radius=100.0, fine_enough=True)
    state = state.after_iteration(30.0, 20.0, 1.0, 0.0, 8.0, 2.0, log.append)
    state = state.after_iteration(30.0, 15.0, 0.8, 0.0, 8.0, 2.0, log.append)
    assert state.converged


def test_image_size_grows_as_relion_does() -> None:
    """incr_size grows to the FSC-0.5-to-0.143 distance plus 5 shells and never shrinks; a quarter-box
    step while the FSC at the edge of the used size is above 0.2 (and ⟨Pmax⟩ > 0.1)."""
    shells = torch.arange(61, dtype=torch.float64)
    fsc = 1.0 / (1.0 + torch.exp((shells - 30.0) / 4.0))  # first below 0.5: shell 31; below 0.143: 38
    state = AutoSampling(healpix_order=2, offset_range=5.0, offset_step=2.0, incr_size=10)
    state, step = state.image_size_step(fsc, used_size=40, avg_pmax=0.5, box=120)  # edge shell 19: FSC 0.94
    assert step == 15 and state.incr_size == 12  # a quarter of the half-box; 38 − 31 + 5 = 12, kept
    state, step = state.image_size_step(fsc, used_size=100, avg_pmax=0.5, box=120)  # edge shell 49: FSC 0.01
    assert step == 12
    state, step = state.image_size_step(fsc, used_size=40, avg_pmax=0.05, box=120)  # uncertain: no big step
    assert step == 12
    sharp = 1.0 / (1.0 + torch.exp((shells - 30.0) / 0.5))  # 0.5 → 0.143 within one shell
    state, step = state.image_size_step(sharp, used_size=100, avg_pmax=0.5, box=120)
    assert state.incr_size == 12 and step == 12  # never below the value reached before
