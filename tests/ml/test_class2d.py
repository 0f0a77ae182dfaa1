"""2D classification against simulated truth, its RELION files, continuing, and subset selection.

The data set (built once): betagal at 5 Å/px in a 48-pixel box, 300 images at SNR 0.3 (signal
variance over the box / noise variance), CTF defocus 0.8–3 µm, offsets up to ±2 px. 90% are
particles seen along three distinct views ((rot, tilt) = (0°, 0°), (90°, 90°), (45°, 45°))
with 0.5° of jitter and random in-plane angles (about 90 per view); 10% are junk (blobs,
streaks, fragments) with the same CTF and noise. Classification: K = 6, 15 iterations, psi 10°
(5° after oversampling), offsets ±3 px in steps of 1.5 px, mask 200 Å.

Acceptance (issue 8, on these numbers): every class of ≥ 30 images that are mostly particles (at
least three such classes) matches its best projection of the true map with FSC ≥ 0.5 from 50 Å
to 12 Å; ≥ 80% of the junk sits in classes that hold ≤ 20% of the particles; the median in-plane
error of the particles is ≤ 5°.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from vitreo.em.geometry import euler_degrees_to_matrix, euler_to_matrix
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star
from vitreo.ml.class2d import Class2DResult, Class2DSettings, run_class2d
from vitreo.ml.evaluate import in_plane_errors, junk_separation, match_projections, predicted_rotations
from vitreo.ml.files import read_iteration
from vitreo.ml.optimiser import ProgressEvent
from vitreo.ml.select import (
    class_averages_table,
    classes_by_rule,
    limit_per_class,
    particles_in_classes,
    rank_classes,
    read_classes,
    regroup,
)
from vitreo.simulate.particle_stack import StackSettings, simulate_particle_stack, write_particle_stack
from vitreo.simulate.structures import default_structure_map

PIXEL, BOX, N, SNR, SEED = 5.0, 48, 300, 0.3, 1
JITTER = 0.5  # degrees, per Euler angle
VIEWS = torch.tensor([[0.0, 0.0], [90.0, 90.0], [45.0, 45.0]])  # (rot, tilt) degrees
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "data" / "star"
SETTINGS = Class2DSettings(
    nr_classes=6, nr_iter=15, particle_diameter=200, psi_step=10, offset_range=3, offset_step=1.5, threads=1
)


@dataclass(frozen=True)
class Run:
    project: Path
    star: Path
    truth: dict[str, np.ndarray]
    volume: torch.Tensor
    result: Class2DResult

    @property
    def junk(self) -> torch.Tensor:
        return torch.from_numpy(self.truth["rlnVitreoIsJunk"]).bool()


def simulate(project: Path, n: int = N, snr: float = SNR, seed: int = SEED) -> tuple[Path, dict[str, np.ndarray], torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    which = torch.randint(0, len(VIEWS), (n,), generator=generator)
    view = torch.deg2rad(VIEWS[which] + JITTER * torch.randn(n, 2, generator=generator)).double()
    psi = torch.rand(n, generator=generator, dtype=torch.float64) * 2 * math.pi
    volume = torch.from_numpy(default_structure_map(PIXEL, BOX))
    settings = StackSettings(n_particles=n, junk_fraction=0.1, snr=snr, max_origin=2.0)
    stack = simulate_particle_stack(volume, PIXEL, settings, generator, rotations=euler_to_matrix(view[:, 0], view[:, 1], psi))
    return write_particle_stack(stack, settings, project, truth_columns=False), stack.truth, volume


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    project = tmp_path_factory.mktemp("class2d")
    star, truth, volume = simulate(project)
    result = run_class2d(star, project / "Class2D" / "job001" / "run", SETTINGS, project_dir=project)
    return Run(project, star, truth, volume, result)


def test_class_averages_match_true_projections_to_12A(run: Run) -> None:
    state = run.result.state
    match = match_projections(torch.from_numpy(run.result.classes), run.volume, PIXEL, "D2", resolution=15.0,
                              mask_radius=100 / PIXEL)
    good = torch.bincount(state.class_index[~run.junk], minlength=SETTINGS.nr_classes)
    junk = torch.bincount(state.class_index[run.junk], minlength=SETTINGS.nr_classes)
    particle_classes = torch.nonzero((good > junk) & (good >= 30)).squeeze(-1)
    assert len(particle_classes) >= 3
    assert bool((match.resolution_05[particle_classes] <= 12.0).all()), match.resolution_05
    # the control: a junk class matches no projection that well
    junk_classes = torch.nonzero(junk > good).squeeze(-1)
    assert len(junk_classes) and bool((match.resolution_05[junk_classes] > 20.0).all())


def test_junk_gathers_in_its_own_classes(run: Run) -> None:
    separation = junk_separation(run.result.state.class_index, run.junk, SETTINGS.nr_classes)
    assert separation.junk_captured >= 0.8
    assert separation.good_in_junk_classes <= 0.2


def test_in_plane_angles_agree_with_truth(run: Run) -> None:
    state = run.result.state
    match = match_projections(torch.from_numpy(run.result.classes), run.volume, PIXEL, "D2", resolution=15.0)
    truth = euler_degrees_to_matrix(*(torch.from_numpy(run.truth[k]) for k in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")))
    good = ~run.junk
    errors = in_plane_errors(predicted_rotations(state.angles[:, 2], state.class_index, match.rotations), truth, "D2")
    assert float(errors[good].abs().median()) <= 5.0
    shuffled = state.angles[:, 2][torch.randperm(len(state), generator=torch.Generator().manual_seed(0))]
    control = in_plane_errors(predicted_rotations(shuffled, state.class_index, match.rotations), truth, "D2")
    assert float(control[good].abs().median()) > 20.0


def _labels(path: Path) -> dict[str, set[str]]:
    return {name: set(block.labels if isinstance(block, Table) else block) for name, block in read_star(path).items()}


def test_iteration_files_have_relion_blocks_and_labels(run: Run) -> None:
    files = run.result.files
    assert all(path.name.startswith(f"run_it{SETTINGS.nr_iter:03d}_") for path in files.values())
    ours = _labels(files["model"])
    k = SETTINGS.nr_classes
    assert {"model_general", "model_classes", "model_groups", "model_group_1", "model_optics_group_1"} <= set(ours)
    assert {f"model_class_{c}" for c in range(1, k + 1)} <= set(ours)
    needed = {"rlnClassDistribution", "rlnAccuracyRotations", "rlnAccuracyTranslationsAngst", "rlnEstimatedResolution"}
    assert needed <= ours["model_classes"]
    assert {"rlnResolution", "rlnSsnrMap"} <= ours["model_class_1"]
    assert ours["model_group_1"] == {"rlnSpectralIndex", "rlnResolution", "rlnSigma2Noise"}
    data = _labels(files["data"])["particles"]
    assert {"rlnClassNumber", "rlnAnglePsi", "rlnOriginXAngst", "rlnOriginYAngst", "rlnMaxValueProbDistribution",
            "rlnNrOfSignificantSamples", "rlnLogLikeliContribution", "rlnNormCorrection"} <= data
    assert files["optimiser"].read_text().splitlines()[0].startswith("# vitreo class2d --i ")
    relion = FIXTURES / "relion5_betagal_sppractice" / "Class2D" / "job010"
    if not relion.is_dir():
        pytest.skip("RELION reference files not present")
    theirs = _labels(relion / "run_it025_model.star")
    for block in ("model_general", "model_classes", "model_class_1", "model_groups", "model_optics_group_1"):
        assert ours[block] <= theirs[block], (block, ours[block] - theirs[block])
    assert _labels(files["sampling"]) == _labels(relion / "run_it025_sampling.star")
    assert _labels(files["optimiser"])["optimiser_general"] <= _labels(relion / "run_it025_optimiser.star")["optimiser_general"]
    assert data <= _labels(relion / "run_it025_data.star")["particles"] | {"rlnRandomSubset"}


def test_continue_from_an_optimiser_file(run: Run, tmp_path: Path) -> None:
    first = replace_settings(nr_iter=2)
    prefix = tmp_path / "run"
    run_class2d(run.star, prefix, first, project_dir=run.project)
    saved = read_iteration(tmp_path / "run_it002_optimiser.star", run.project)
    events: list[ProgressEvent] = []
    result = run_class2d(run.star, prefix, replace_settings(nr_iter=3), events.append, project_dir=run.project,
                         continue_from=tmp_path / "run_it002_optimiser.star")
    assert [s.iteration for s in result.iterations] == [3]
    assert {e.iteration for e in events} == {3} and events[-1].stage == "maximisation"
    done = [e.done for e in events if e.stage == "expectation"]
    assert done == sorted(done) and done[-1] == N
    assert (tmp_path / "run_it003_data.star").is_file()
    again = read_iteration(tmp_path / "run_it002_optimiser.star", run.project)
    assert torch.allclose(again.model.references, saved.model.references)
    assert torch.allclose(again.model.sigma2_noise, saved.model.sigma2_noise, rtol=1e-5)
    with pytest.raises(InputError):
        run_class2d(run.star, prefix, replace_settings(nr_iter=3, nr_classes=5), project_dir=run.project,
                    continue_from=tmp_path / "run_it002_optimiser.star")


def replace_settings(**changes: object) -> Class2DSettings:
    values = {**SETTINGS.__dict__, **changes}
    return Class2DSettings(**values)


def test_bad_settings_raise_one_line_input_errors(run: Run, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="number of classes"):
        run_class2d(run.star, tmp_path / "run", replace_settings(nr_classes=0))
    with pytest.raises(InputError, match="exceeds the box"):
        run_class2d(run.star, tmp_path / "run", replace_settings(particle_diameter=400), project_dir=run.project)


def test_selection_keeps_particle_classes_and_rejects_junk(run: Run) -> None:
    summary = read_classes(run.result.files["model"], run.project)
    scores = rank_classes(summary, n_particles=N, particle_radius_px=100 / PIXEL)
    classes = summary.numbers[scores.selected]
    data = read_star(run.result.files["data"])["particles"]
    chosen = particles_in_classes(data, classes)
    is_junk = run.truth["rlnVitreoIsJunk"].astype(bool)
    picked = np.isin(data["rlnClassNumber"], classes)
    assert picked[~is_junk].mean() >= 0.9 and picked[is_junk].mean() <= 0.2
    assert len(chosen) == int(picked.sum())
    assert set(classes_by_rule(summary, min_distribution=0.2)) <= set(summary.numbers)
    capped = limit_per_class(chosen, 10, np.random.default_rng(0))
    assert np.bincount(capped["rlnClassNumber"]).max() == 10
    table = class_averages_table(summary, classes, "Select/job002/class_averages.mrcs")
    assert table["rlnReferenceImage"][0] == "000001@Select/job002/class_averages.mrcs"


def test_regrouping_merges_micrographs_into_about_n_groups() -> None:
    n = 120
    table = Table.from_columns({
        "rlnMicrographName": np.array([f"mic{i % 12:02d}.mrc" for i in range(n)], dtype=object),
        "rlnNormCorrection": np.linspace(0.5, 1.5, n),
        "rlnClassNumber": np.ones(n, dtype=np.int64),
    })
    grouped = regroup(table, 4)
    assert sorted(np.unique(grouped["rlnGroupNumber"])) == [1, 2, 3, 4]
    per_micrograph = {m: set(grouped["rlnGroupNumber"][grouped["rlnMicrographName"] == m]) for m in np.unique(table["rlnMicrographName"])}
    assert all(len(groups) == 1 for groups in per_micrograph.values())


def test_relion_class_averages_can_be_selected() -> None:
    model = FIXTURES / "relion5_betagal_sppractice" / "Class2D" / "job010" / "run_it025_model.star"
    images = FIXTURES.parent / "images" / "relion5_betagal_sppractice"
    if not model.is_file() or not images.is_dir():
        pytest.skip("RELION reference files not present")
    summary = read_classes(model, images)
    assert summary.averages.shape == (50, 64, 64) and summary.pixel_size == pytest.approx(3.54)
    big = classes_by_rule(summary, min_distribution=0.05)
    assert set(big) == set(summary.numbers[summary.distribution >= 0.05]) and len(big) >= 3
    scores = rank_classes(summary, n_particles=2374, particle_radius_px=100 / 3.54)
    assert bool(scores.selected[np.argsort(-summary.distribution)[:3]].all())  # the three largest are kept
    assert not bool(scores.selected[summary.distribution == 0].any())
