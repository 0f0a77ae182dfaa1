"""3D classification of a simulated two-state mixture (the phantom and the phantom without a
domain, 40%), continuation, bad input, and the greyscale correction of a reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.ml.phantom3d import DOMAIN, blob_phantom, simulate, write_map
from vitreo.em.filters import lowpass
from vitreo.io.errors import InputError
from vitreo.io.star import Table, read_star, write_star
from vitreo.ml.class3d import Class3DSettings, run_class3d
from vitreo.ml.particles import load_particles
from vitreo.ml.reference3d import greyscale_scale, mask_radius

BOX, PIXEL, N, SNR = 24, 8.0, 160, 2.0
SETTINGS = Class3DSettings(
    nr_classes=2, nr_iter=6, tau_fudge=1.0, ini_high=30.0, healpix_order=2, particle_diameter=150.0,
    offset_range=3.0, offset_step=2.0,
)


@pytest.fixture(scope="module")
def mixture(tmp_path_factory: pytest.TempPathFactory) -> dict:
    project = tmp_path_factory.mktemp("class3d")
    full, partial = blob_phantom(BOX), blob_phantom(BOX, drop=DOMAIN)
    n_partial = int(0.4 * N)
    _, star_a = simulate(full, PIXEL, N - n_partial, SNR, 1, project, "a")
    _, star_b = simulate(partial, PIXEL, n_partial, SNR, 2, project, "b")
    a, b = read_star(star_a), read_star(star_b)
    columns = {k: np.concatenate([np.asarray(a["particles"][k]), np.asarray(b["particles"][k])]) for k in a["particles"].columns}
    star = project / "Particles/mixture.star"
    write_star(star, {"optics": a["optics"], "particles": Table.from_columns(columns)})
    reference = write_map(project / "ref.mrc", lowpass(full.double(), 30.0, PIXEL, ndim=3).float(), PIXEL)
    (project / "Class3D").mkdir()
    lines: list[str] = []
    result = run_class3d(star, reference, project / "Class3D/run", SETTINGS, project_dir=project, log=lines.append)
    state = np.r_[np.zeros(N - n_partial), np.ones(n_partial)]
    return {"project": project, "star": star, "reference": reference, "result": result, "state": state, "full": full}


@pytest.mark.slow
def test_two_states_are_separated(mixture: dict) -> None:
    found = mixture["result"].state.class_index.numpy()
    agreement = max(float(np.mean(found == mixture["state"])), float(np.mean(found != mixture["state"])))
    assert agreement >= 0.9, agreement  # issue 9: ≥ 90% to their true state (measured 92-94%)


@pytest.mark.slow
def test_iteration_files_are_relion_files(mixture: dict) -> None:
    project = mixture["project"]
    for k in (1, 2):
        assert (project / f"Class3D/run_it006_class{k:03d}.mrc").is_file()
    model = read_star(project / "Class3D/run_it006_model.star")
    names = list(model["model_classes"]["rlnReferenceImage"])
    assert names[1].endswith("run_it006_class002.mrc") and "@" not in names[1]
    assert model["model_general"]["rlnReferenceDimensionality"] == 3 and model["model_general"]["rlnNrClasses"] == 2
    sampling = read_star(project / "Class3D/run_it006_sampling.star")["sampling_general"]
    assert sampling["rlnHealpixOrder"] == 2 and sampling["rlnIs3DSampling"] == 1
    data = read_star(project / "Class3D/run_it006_data.star")["particles"]
    assert set(np.unique(data["rlnClassNumber"])) == {1, 2}


@pytest.mark.slow
def test_continue_from_an_optimiser_file(mixture: dict) -> None:
    project = mixture["project"]
    settings = Class3DSettings(**{**SETTINGS.__dict__, "nr_iter": 7})
    result = run_class3d(None, None, project / "Class3D/cont", settings, project_dir=project,
                         continue_from=project / "Class3D/run_it006_optimiser.star")
    assert [s.iteration for s in result.iterations] == [7]
    assert (project / "Class3D/cont_it007_class002.mrc").is_file()


def test_bad_reference_or_mask_is_refused_before_any_iteration(mixture: dict, tmp_path: Path) -> None:
    project, star = mixture["project"], mixture["star"]
    coarse = write_map(tmp_path / "coarse.mrc", torch.zeros(BOX, BOX, BOX), 2 * PIXEL)
    with pytest.raises(InputError, match="A/px .*--rescale"):
        run_class3d(star, coarse, tmp_path / "run", SETTINGS, project_dir=project)
    mask = write_map(tmp_path / "mask.mrc", torch.full((BOX, BOX, BOX), -0.5), PIXEL)
    with pytest.raises(InputError, match="must lie in"):
        run_class3d(star, mixture["reference"], tmp_path / "run", SETTINGS, mask=mask, project_dir=project)
    with pytest.raises(InputError, match="symmetry"):
        run_class3d(star, mixture["reference"], tmp_path / "run", Class3DSettings(**{**SETTINGS.__dict__, "symmetry": "C4"}),
                    project_dir=project)


def test_reference_is_put_on_the_particles_greyscale(mixture: dict) -> None:
    particles = load_particles(mixture["star"], mixture["project"])
    radius = mask_radius(150.0, BOX, PIXEL)
    full = mixture["full"]
    scale = greyscale_scale(7.0 * full, particles, radius, 30.0, True)
    assert scale == pytest.approx(1 / 7.0, rel=0.2)  # the particles are projections of ``full`` itself
