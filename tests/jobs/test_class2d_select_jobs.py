"""The Class2D and Select jobs on simulated betagal particles with 10% junk.

Data: the set of tests/ml/test_class2d.py (300 images, box 48 at 5 Å/px, three views, SNR 0.3),
spread over five micrographs. Class2D runs with the GUI's sampling (psi 5°, offsets ±3 px in
steps of 0.75 px after oversampling), streaming the images from disc; Select then keeps classes
automatically (the class ranker), by number or by rule.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.ml.test_class2d import simulate
from tests.picking.job_runner import run_job
from vitreo.io.mrc import read_mrc
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs.class2d_job import job_spec as class2d_spec
from vitreo.jobs.class2d_job import settings_from
from vitreo.jobs.registry import find_spec
from vitreo.jobs.select_job import job_spec as select_spec
from vitreo.jobs.select_job import parse_class_list
from vitreo.ml.evaluate import junk_separation

K, ITERATIONS, N_MICROGRAPHS = 6, 15, 5
CLASS2D = {"fn_img": "Particles/particles.star", "nr_classes": str(K), "nr_iter_em": str(ITERATIONS),
           "psi_sampling": "5", "offset_range": "3", "offset_step": "0.75", "particle_diameter": "200"}


class Project:
    def __init__(self, root: Path, truth: dict[str, np.ndarray], job: Path, nodes: list, log: list[str]):
        self.root, self.truth, self.job, self.nodes, self.log = root, truth, job, nodes, log

    @property
    def junk(self) -> np.ndarray:
        return self.truth["rlnVitreoIsJunk"].astype(bool)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("class2d_job")
    star, truth, _ = simulate(root)
    blocks = read_star(star)
    particles = blocks["particles"]
    micrographs = np.array([f"Micrographs/mic{i % N_MICROGRAPHS + 1:02d}.mrc" for i in range(len(particles))], dtype=object)
    particles["rlnMicrographName"] = micrographs
    write_star(star, blocks)
    names = [f"Micrographs/mic{i:02d}.mrc" for i in range(1, N_MICROGRAPHS + 2)]  # the last holds no particle
    write_star(root / "micrographs.star", {"optics": blocks["optics"], "micrographs": Table.from_columns(
        {"rlnMicrographName": np.array(names, dtype=object), "rlnOpticsGroup": np.ones(len(names), dtype=np.int64)})})
    handler = _Collect()
    log = logging.getLogger("vitreo.test.class2d_job")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        params = class2d_spec().params(CLASS2D)
        class2d_spec().validate(params)
        job = root / "Class2D" / "job001"
        job.mkdir(parents=True)
        from vitreo.jobs.context import JobContext
        from vitreo.jobs.progress import ProgressReporter

        ctx = JobContext(Path("Class2D/job001"), params, log=log, progress=ProgressReporter(job, log, terminal=False))
        nodes = class2d_spec().run(Path("Class2D/job001"), params, ctx)
    log.removeHandler(handler)
    return Project(root, truth, job, nodes, handler.lines)


def test_class2d_job_writes_relion_outputs_and_separates_junk(project: Project) -> None:
    last = f"run_it{ITERATIONS:03d}"
    assert [(n.file, n.type_label) for n in project.nodes] == [
        (f"{last}_data.star", "ParticleGroupMetadata.star.relion.class2d"),
        (f"{last}_optimiser.star", "OptimiserData.star.relion.class2d")]
    assert project.nodes == class2d_spec().output_nodes(class2d_spec().params(CLASS2D))
    for suffix in ("classes.mrcs", "model.star", "data.star", "optimiser.star", "sampling.star"):
        assert (project.job / f"{last}_{suffix}").is_file()
    first_line = (project.job / f"{last}_optimiser.star").read_text().splitlines()[0]
    assert first_line.startswith("# vitreo class2d --i Particles/particles.star --o Class2D/job001/run")
    sampling = read_star(project.job / f"{last}_sampling.star")["sampling_general"]
    assert sampling["rlnPsiStep"] == pytest.approx(10.0) and sampling["rlnOffsetStep"] == pytest.approx(1.5 * 5.0)
    data = read_star(project.job / f"{last}_data.star")["particles"]
    separation = junk_separation(torch.from_numpy(np.asarray(data["rlnClassNumber"]) - 1),
                                 torch.from_numpy(project.junk), K)
    assert separation.junk_captured >= 0.8 and separation.good_in_junk_classes <= 0.2
    # the memory estimate comes before the first iteration; one progress task per iteration
    estimate = next(i for i, line in enumerate(project.log) if "estimated memory" in line)
    first_iteration = next(i for i, line in enumerate(project.log) if line.startswith(" iteration 1:"))
    assert estimate < first_iteration and "streamed from disc" in " ".join(project.log[:estimate + 1])
    tasks = [line.split(":")[0].strip() for line in project.log if line.strip().startswith("iteration ") and "/" in line.split(":")[0]]
    assert sorted(set(tasks)) == sorted(f"iteration {i}/{ITERATIONS}" for i in range(1, ITERATIONS + 1))
    progress = json.loads((project.job / "progress.json").read_text())
    assert progress["task"] == f"iteration {ITERATIONS}/{ITERATIONS}" and progress["fraction"] == 1.0


def test_class2d_options_follow_relion() -> None:
    spec = find_spec("relion.class2d")
    assert spec.directory == "Class2D" and spec.continue_option == "fn_cont"
    relion = Path(__file__).resolve().parents[3] / "shared/data/star/relion5_betagal_sppractice/Class2D/job010/job.star"
    if relion.is_file():
        names = set(read_star(relion)["joboptions_values"]["rlnJobOptionVariable"])
        assert names <= {option.name for option in spec.options}
    settings = settings_from(spec.params({"psi_sampling": "6", "offset_step": "1", "nr_threads": "2"}))
    assert (settings.psi_step, settings.offset_step, settings.oversampling, settings.threads) == (12.0, 2.0, 1, 2)
    with pytest.raises(ValueError, match="EM algorithm"):
        spec.validate(spec.params({"fn_img": "p.star", "do_grad": "Yes"}))
    with pytest.raises(ValueError, match="particles to classify"):
        spec.validate(spec.params({}))


def test_class2d_continues_with_more_iterations_and_finer_sampling(project: Project, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.root)
    values = {**CLASS2D, "nr_iter_em": "2", "nr_classes": "3", "scratch_dir": str(tmp_path / "scratch")}
    job = run_job(class2d_spec(), values, "Class2D/job002")  # streamed from a scratch copy
    assert (tmp_path / "scratch").is_dir() and not any((tmp_path / "scratch").iterdir())  # the copy is gone
    more = {**values, "nr_iter_em": "3", "psi_sampling": "2.5", "do_preread_images": "Yes",
            "fn_cont": "Class2D/job002/run_it002_optimiser.star"}
    del more["nr_classes"]  # a continuation takes K from the run it continues (the job's default is 1)
    run_job(class2d_spec(), more, "Class2D/job002", is_continue=True)
    assert read_star(job / "run_it003_model.star")["model_general"]["rlnNrClasses"] == 3
    sampling = read_star(job / "run_it003_sampling.star")["sampling_general"]
    assert sampling["rlnPsiStep"] == pytest.approx(5.0)
    general = read_star(job / "run_it003_optimiser.star")["optimiser_general"]
    assert general["rlnCurrentIteration"] == 3
    assert not (job / "run_it004_data.star").exists()
    with pytest.raises(Exception, match="more iterations"):
        run_job(class2d_spec(), {**more, "fn_cont": "Class2D/job002/run_it003_optimiser.star"}, "Class2D/job002",
                is_continue=True)
    with pytest.raises(Exception, match="optimiser"):
        run_job(class2d_spec(), {**more, "fn_cont": "Class2D/job002/missing_optimiser.star"}, "Class2D/job002",
                is_continue=True)


def _select(values: dict[str, str], job: str) -> Path:
    return run_job(select_spec(), values, job)


def test_select_class_ranker_rejects_junk_and_keeps_micrographs(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.root)
    optimiser = f"Class2D/job001/run_it{ITERATIONS:03d}_optimiser.star"
    job = _select({"fn_model": optimiser, "do_class_ranker": "Yes", "fn_mic": "micrographs.star",
                   "do_recenter": "Yes", "do_regroup": "Yes", "nr_groups": "2"}, "Select/job003")
    assert select_spec().label(select_spec().params({"fn_model": optimiser, "do_class_ranker": "Yes"})) == \
        "relion.select.class2dauto"
    data = read_star(f"Class2D/job001/run_it{ITERATIONS:03d}_data.star")
    kept = read_star(job / "particles.star")
    assert kept["optics"].equals(data["optics"])
    picked = np.isin(data["particles"]["rlnImageName"], kept["particles"]["rlnImageName"])
    assert picked[~project.junk].mean() >= 0.9 and picked[project.junk].mean() <= 0.2
    assert set(kept["particles"]["rlnGroupNumber"]) == {1, 2}
    averages = read_star(job / "class_averages.star")[""]
    images, _ = read_mrc(job / "class_averages.mrcs")
    assert len(averages) == len(np.unique(kept["particles"]["rlnClassNumber"])) == images.shape[0]
    box = images.shape[-1]
    axis = np.arange(box) - box // 2
    density = np.clip(images, 0, None) * ((axis[:, None] ** 2 + axis[None] ** 2) <= (box / 2) ** 2)
    total = density.sum(axis=(1, 2))
    centre = np.stack([(density * axis[None, None, :]).sum(axis=(1, 2)), (density * axis[None, :, None]).sum(axis=(1, 2))]) / total
    assert np.abs(centre).max() < 0.5, centre  # re-centred
    mics = read_star(job / "micrographs.star")["micrographs"]
    assert list(mics["rlnMicrographName"]) == [f"Micrographs/mic{i:02d}.mrc" for i in range(1, N_MICROGRAPHS + 1)]
    # at least K classes asked for: the ranker's rejects are added back
    job = _select({"fn_model": optimiser, "do_class_ranker": "Yes", "select_nr_classes": str(K)}, "Select/job011")
    everything = read_star(job / "particles.star")["particles"]
    assert set(everything["rlnClassNumber"]) == set(data["particles"]["rlnClassNumber"])
    assert len(set(kept["particles"]["rlnClassNumber"])) < len(set(everything["rlnClassNumber"]))


def test_select_by_number_rule_and_cap(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.root)
    model = f"Class2D/job001/run_it{ITERATIONS:03d}_model.star"
    data = read_star(f"Class2D/job001/run_it{ITERATIONS:03d}_data.star")["particles"]
    job = _select({"fn_model": model, "select_classes": "1, 3-4", "max_nr_parts_per_class": "10"}, "Select/job004")
    kept = read_star(job / "particles.star")["particles"]
    counts = np.bincount(kept["rlnClassNumber"], minlength=K + 1)
    expected = np.minimum(np.bincount(data["rlnClassNumber"], minlength=K + 1), 10)
    assert counts.tolist() == [0, expected[1], 0, expected[3], expected[4], 0, 0]
    distribution = read_star(model)["model_classes"]["rlnClassDistribution"]
    job = _select({"fn_model": model, "min_class_distribution": "0.15"}, "Select/job005")
    kept = read_star(job / "particles.star")["particles"]
    assert set(kept["rlnClassNumber"]) == set(np.flatnonzero(distribution >= 0.15) + 1)
    assert parse_class_list("2 5-7,9").tolist() == [2, 5, 6, 7, 9]
    for bad in ("0", "a", "3-x"):
        with pytest.raises(ValueError, match="class list"):
            parse_class_list(bad)
    with pytest.raises(ValueError, match="choose the classes"):
        select_spec().validate(select_spec().params({"fn_model": model}))
    with pytest.raises(Exception, match="does not exist"):
        _select({"fn_model": model, "select_classes": "99"}, "Select/job006")


def test_select_accepts_3d_classification_files_and_splits(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Class3D-like _model.star (3D references, not read) with its _data.star; then value selection and split."""
    monkeypatch.chdir(project.root)
    data = read_star(f"Class2D/job001/run_it{ITERATIONS:03d}_data.star")
    particles = data["particles"]
    particles["rlnClassNumber"] = np.asarray(particles["rlnClassNumber"]) % 2 + 1
    out = Path("Class3D/job007")
    out.mkdir(parents=True)
    write_star(out / "run_it010_data.star", data)
    classes = Table.from_columns({
        "rlnReferenceImage": np.array([f"{out}/run_it010_class00{c}.mrc" for c in (1, 2)], dtype=object),
        "rlnClassDistribution": np.array([0.6, 0.4]), "rlnEstimatedResolution": np.array([8.0, 12.0])})
    write_star(out / "run_it010_model.star", {"model_general": {"rlnReferenceDimensionality": 3, "rlnPixelSize": 5.0,
                                                                "rlnNrClasses": 2}, "model_classes": classes})
    job = _select({"fn_model": f"{out}/run_it010_model.star", "max_class_resolution": "10"}, "Select/job008")
    kept = read_star(job / "particles.star")["particles"]
    assert set(kept["rlnClassNumber"]) == {1} and len(kept) == int((particles["rlnClassNumber"] == 1).sum())
    assert not (job / "class_averages.star").exists()
    job = _select({"fn_data": f"{out}/run_it010_data.star", "do_select_values": "Yes",
                   "select_label": "rlnMaxValueProbDistribution", "select_minval": "0.5", "select_maxval": "1",
                   "do_split": "Yes", "nr_split": "3"}, "Select/job009")
    parts = [read_star(job / f"particles_split{i}.star")["particles"] for i in (1, 2, 3)]
    expected = int((np.asarray(particles["rlnMaxValueProbDistribution"]) >= 0.5).sum())
    assert sum(len(p) for p in parts) == expected and max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    assert all(np.asarray(p["rlnMaxValueProbDistribution"]).min() >= 0.5 for p in parts)
    with pytest.raises(Exception, match="no column rlnNope"):
        _select({"fn_data": f"{out}/run_it010_data.star", "do_select_values": "Yes", "select_label": "rlnNope"},
                "Select/job010")


def test_select_options_follow_relion() -> None:
    spec = find_spec("relion.select")
    names = {option.name for option in spec.options}
    fixtures = Path(__file__).resolve().parents[3] / "shared/data/star"
    for path in (fixtures / "relion5_betagal_sppractice/Select/job007/job.star",
                 fixtures / "relion_schemes/proc/select_parts/job.star"):
        if path.is_file():
            assert set(read_star(path)["joboptions_values"]["rlnJobOptionVariable"]) <= names
    assert spec.label(spec.params({"fn_mic": "m.star", "do_split": "Yes"})) == "relion.select.split"
    assert spec.label(spec.params({"fn_model": "r_optimiser.star", "select_classes": "1"})) == "relion.select.interactive"
    with pytest.raises(ValueError, match="not available"):
        spec.validate(spec.params({"fn_data": "p.star", "do_remove_duplicates": "Yes"}))
