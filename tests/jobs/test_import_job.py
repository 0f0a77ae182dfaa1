"""The Import job: movies.star exactly as RELION writes it, continue and on-the-fly rules,
and the other node types (coordinates, particles, references, maps, masks, half-maps)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.pipeline.helpers import make_files
from vitreo.io.errors import InputError
from vitreo.io.mrc import write_mrc
from vitreo.io.star import Table, read_star, write_star
from vitreo.jobs import node_types
from vitreo.jobs.context import JobContext
from vitreo.jobs.import_job import job_spec
from vitreo.jobs.import_other import coordinates_for
from vitreo.jobs.options import Params
from vitreo.jobs.progress import read_progress
from vitreo.jobs.settled_files import split_settled
from vitreo.pipeline.job_star import read_job_star
from vitreo.pipeline.submit import params_from_values

FIXTURE = "star/relion5_betagal_sppractice"


def run_import(params: dict[str, str], is_continue: bool = False, job: str = "Import/job001") -> Path:
    """Run Import in the current directory (the project) and return its job directory."""
    spec = job_spec()
    values = spec.params(params)
    spec.validate(values)
    job_dir = Path(job)
    job_dir.mkdir(parents=True, exist_ok=True)
    spec.run(job_dir, values, JobContext(job_dir, values, is_continue=is_continue))
    return job_dir


@pytest.fixture
def in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VITREO_IMPORT_PROBE_SECONDS", "0.05")
    return tmp_path


def test_movies_star_is_byte_identical_to_relion5(in_project: Path, shared_data: Path) -> None:
    relion = shared_data / FIXTURE / "Import/job001"
    movies = read_star(relion / "movies.star")["movies"]["rlnMicrographMovieName"]
    make_files(in_project, list(movies))
    params, ignored = params_from_values(job_spec(), read_job_star(relion / "job.star").values)
    assert ignored == []
    job_dir = run_import(dict(params))
    assert (job_dir / "movies.star").read_bytes() == (relion / "movies.star").read_bytes()


def test_micrographs_star_has_pixel_size_mtf_and_beam_tilt(in_project: Path) -> None:
    make_files(in_project / "Micrographs", ["b.mrc.txt", "a.tif", "c.tif"])
    job_dir = run_import({"fn_in_raw": "Micrographs/*.tif", "is_multiframe": "No", "angpix": "1.1",
                          "fn_mtf": "mtf.star", "beamtilt_x": "0.2", "beamtilt_y": "-0.1"})
    blocks = read_star(job_dir / "micrographs.star")
    optics = blocks["optics"]
    assert optics.labels == ["rlnOpticsGroupName", "rlnOpticsGroup", "rlnMtfFileName", "rlnMicrographPixelSize",
                             "rlnMicrographOriginalPixelSize", "rlnVoltage", "rlnSphericalAberration",
                             "rlnAmplitudeContrast", "rlnBeamTiltX", "rlnBeamTiltY"]
    assert optics["rlnMicrographPixelSize"][0] == 1.1 and optics["rlnBeamTiltY"][0] == -0.1
    assert list(blocks["micrographs"]["rlnMicrographName"]) == ["Micrographs/a.tif", "Micrographs/c.tif"]


def test_continue_adds_only_new_files_and_numbers_a_new_optics_group(in_project: Path) -> None:
    make_files(in_project / "Movies", ["m1.tiff", "m2.tiff"])
    job_dir = run_import({"fn_in_raw": "Movies/*.tiff"})
    make_files(in_project / "Movies", ["m3.tiff"])
    run_import({"fn_in_raw": "Movies/*.tiff"}, is_continue=True)
    make_files(in_project / "Movies", ["m4.tiff"])
    run_import({"fn_in_raw": "Movies/*.tiff", "optics_group_name": "late", "kV": "200"}, is_continue=True)
    blocks = read_star(job_dir / "movies.star")
    assert list(blocks["movies"]["rlnMicrographMovieName"]) == [f"Movies/m{i}.tiff" for i in (1, 2, 3, 4)]
    progress = read_progress(job_dir)
    assert progress is not None and (progress["done"], progress["total"], progress["fraction"]) == (1, 1, 1.0)
    assert list(blocks["movies"]["rlnOpticsGroup"]) == [1, 1, 1, 2]
    assert list(blocks["optics"]["rlnOpticsGroupName"]) == ["opticsGroup1", "late"]
    assert list(blocks["optics"]["rlnVoltage"]) == [300.0, 200.0]


def test_files_still_being_copied_wait_for_a_later_run(in_project: Path) -> None:
    make_files(in_project / "Movies", [".done2.mrcs.Xy12"])
    for name in ("done.mrcs", "next.mrcs.part"):
        write_mrc(f"Movies/{name}", np.zeros((2, 8, 8), np.float32), 1.0, is_stack=True)
    write_mrc("Movies/cut.mrcs", np.zeros((4, 8, 8), np.float32), 1.0, is_stack=True)
    with open("Movies/cut.mrcs", "r+b") as fh:  # a copy that has not finished
        fh.truncate(1024 + 2 * 8 * 8 * 4)
    job_dir = run_import({"fn_in_raw": "Movies/*.mrcs*"}, is_continue=True)
    names = read_star(job_dir / "movies.star")["movies"]["rlnMicrographMovieName"]
    assert list(names) == ["Movies/done.mrcs"]
    write_mrc("Movies/cut.mrcs", np.zeros((4, 8, 8), np.float32), 1.0, is_stack=True)
    os.rename("Movies/next.mrcs.part", "Movies/next.mrcs")
    run_import({"fn_in_raw": "Movies/*.mrcs"}, is_continue=True)
    names = read_star(job_dir / "movies.star")["movies"]["rlnMicrographMovieName"]
    assert list(names) == ["Movies/done.mrcs", "Movies/cut.mrcs", "Movies/next.mrcs"]


def test_a_growing_file_is_not_settled(in_project: Path) -> None:
    growing, still = make_files(in_project, ["growing.tif", "still.tif"], old=False)
    stop = threading.Event()

    def keep_writing() -> None:
        with open(growing, "ab") as fh:
            while not stop.is_set():
                fh.write(b"x" * 100)
                fh.flush()
                time.sleep(0.01)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        ready, waiting = split_settled([str(growing), str(still)], quiet_s=10, probe_s=0.3)
    finally:
        stop.set()
        writer.join()
    assert ready == [str(still)] and waiting == [str(growing)]


def test_no_matching_files_fails_unless_continuing(in_project: Path) -> None:
    with pytest.raises(InputError, match="no files match"):
        run_import({"fn_in_raw": "Movies/*.tiff"})
    job_dir = run_import({"fn_in_raw": "Movies/*.tiff"}, is_continue=True, job="Import/job002")
    assert not (job_dir / "movies.star").exists()


def test_coordinates_follow_the_suffix_rule(in_project: Path) -> None:
    for name in ("mic1", "mic2"):
        write_star(f"Movies/{name}_pick.star", {"": Table({"rlnCoordinateX": [10.0, 20.0],
                                                             "rlnCoordinateY": [5.0, 6.0]})})
    params = {"do_raw": "No", "do_other": "Yes", "fn_in_other": "Movies/*_pick.star"}
    spec = job_spec()
    assert [(n.file, n.type_label) for n in spec.output_nodes(spec.params(params))] == [
        ("coords_suffix_pick.star", node_types.IMPORT_COORDINATES)]
    job_dir = run_import(params, job="Import/job003")
    assert (job_dir / "coords_suffix_pick.star").read_text() == "Movies/*.mrc\n"
    found = coordinates_for(["Movies/mic1.mrc", "MotionCorr/job002/Movies/mic2.mrc", "Movies/mic9.mrc"],
                            job_dir / "coords_suffix_pick.star")
    assert found == {"Movies/mic1.mrc": job_dir / "Movies/mic1_pick.star",
                     "MotionCorr/job002/Movies/mic2.mrc": job_dir / "Movies/mic2_pick.star"}
    Path("Movies/bad_pick.star").write_text("data_\nloop_\n_rlnAngleRot\n1\n")
    with pytest.raises(InputError, match="rlnCoordinateX"):
        run_import(params, job="Import/job004")


def particles_blocks(groups: list[str]) -> dict[str, Table]:
    optics = Table({"rlnOpticsGroupName": groups, "rlnOpticsGroup": list(range(1, len(groups) + 1)),
                    "rlnImagePixelSize": [1.5] * len(groups), "rlnImageSize": [64] * len(groups),
                    "rlnImageDimensionality": [2] * len(groups), "rlnVoltage": [300.0] * len(groups)})
    particles = Table({"rlnImageName": ["1@p.mrcs", "2@p.mrcs"], "rlnOpticsGroup": [1, len(groups)]})
    return {"optics": optics, "particles": particles}


def test_particles_are_imported_with_a_renamed_optics_group(in_project: Path) -> None:
    write_star("parts.star", particles_blocks(["opticsGroup1"]))
    job_dir = run_import({"do_raw": "No", "do_other": "Yes", "fn_in_other": "parts.star",
                          "node_type": "Particles STAR file (.star)", "optics_group_particles": "krios2"})
    blocks = read_star(job_dir / "parts.star")
    assert list(blocks["optics"]["rlnOpticsGroupName"]) == ["krios2"]
    assert len(blocks["particles"]) == 2
    write_star("two.star", particles_blocks(["a", "b"]))
    with pytest.raises(InputError, match="exactly one"):
        run_import({"do_raw": "No", "do_other": "Yes", "fn_in_other": "two.star", "optics_group_particles": "c",
                    "node_type": "Particles STAR file (.star)"}, job="Import/job002")


def test_relion30_particles_are_converted(in_project: Path) -> None:
    write_star("old.star", {"": Table({"rlnImageName": ["1@p.mrcs"], "rlnVoltage": [300.0],
                                       "rlnDetectorPixelSize": [5.0], "rlnMagnification": [50000.0],
                                       "rlnOriginX": [2.0], "rlnOriginY": [-1.0]})}, version=None)
    job_dir = run_import({"do_raw": "No", "do_other": "Yes", "fn_in_other": "old.star",
                          "node_type": "Particles STAR file (.star)"})
    blocks = read_star(job_dir / "old.star")
    assert blocks["particles"]["rlnOriginXAngst"][0] == pytest.approx(2.0)
    assert blocks["optics"]["rlnImagePixelSize"][0] == pytest.approx(1.0)


def test_maps_masks_references_and_half_maps(in_project: Path) -> None:
    volume = np.zeros((8, 8, 8), np.float32)
    write_mrc("ref.mrc", volume, 2.0)
    write_mrc("mask.mrc", volume, 2.0)
    write_mrc("run_half1_class001_unfil.mrc", volume, 2.0)
    write_mrc("run_half2_class001_unfil.mrc", volume, 2.0)
    write_mrc("refs.mrcs", np.zeros((3, 8, 8), np.float32), 2.0, is_stack=True)
    write_mrc("flat.mrc", np.zeros((8, 8), np.float32), 2.0)
    other = {"do_raw": "No", "do_other": "Yes"}
    spec = job_spec()
    cases = [("ref.mrc", "3D reference (.mrc)", ["ref.mrc"], node_types.IMPORT_MAP),
             ("mask.mrc", "3D mask (.mrc)", ["mask.mrc"], node_types.IMPORT_MASK),
             ("refs.mrcs", "Multiple (2D or 3D) references (.star or .mrcs)", ["refs.mrcs"],
              node_types.IMPORT_IMAGES_2D),
             ("run_half1_class001_unfil.mrc", "Unfiltered half-map (unfil.mrc)",
              ["run_half1_class001_unfil.mrc", "run_half2_class001_unfil.mrc"], node_types.IMPORT_HALFMAP)]
    for number, (source, node_type, outputs, label) in enumerate(cases, 1):
        params = {**other, "fn_in_other": source, "node_type": node_type}
        assert [(n.file, n.type_label) for n in spec.output_nodes(spec.params(params))] == [
            (name, label) for name in outputs]
        job_dir = run_import(params, job=f"Import/job{number:03d}")
        for name in outputs:
            assert (job_dir / name).read_bytes() == Path(name).read_bytes()
    with pytest.raises(InputError, match="3D volume"):
        run_import({**other, "fn_in_other": "flat.mrc", "node_type": "3D mask (.mrc)"}, job="Import/job009")


@pytest.mark.parametrize("params, message", [
    ({"do_other": "Yes"}, "exactly one"),
    ({"do_raw": "No"}, "exactly one"),
    ({"fn_in_raw": "/data/*.tif"}, "relative"),
    ({"fn_in_raw": "../Movies/*.tif"}, "relative"),
    ({"optics_group_name": "bad name"}, "optics group"),
    ({"do_raw": "No", "do_other": "Yes", "fn_in_other": "maps/*.mrc", "node_type": "3D reference (.mrc)"}, "one"),
    ({"do_raw": "No", "do_other": "Yes", "fn_in_other": "x_pick.star"}, "wildcard"),
    ({"do_raw": "No", "do_other": "Yes", "fn_in_other": "map.mrc", "node_type": "Unfiltered half-map (unfil.mrc)"},
     "half1"),
])
def test_invalid_parameters_are_refused(params: dict[str, str], message: str) -> None:
    spec = job_spec()
    with pytest.raises(ValueError, match=message):
        spec.validate(spec.params(params))


def test_spec_has_relion5_import_options_and_defaults(shared_data: Path) -> None:
    spec = job_spec()
    relion = read_job_star(shared_data / FIXTURE / "Import/job001/job.star")
    assert set(spec.defaults()) == set(relion.values)
    defaults = spec.defaults()
    assert (defaults["fn_in_raw"], defaults["angpix"], defaults["kV"], defaults["Cs"], defaults["Q0"]) == (
        "Micrographs/*.tif", "1.4", "300", "2.7", "0.1")
    assert defaults["node_type"] == relion.values["node_type"]
    assert spec.label(spec.params({})) == "relion.import.movies" == relion.type_label
    assert spec.label(spec.params({"do_raw": "No", "do_other": "Yes"})) == "relion.import.other"
    assert spec.params({"do_raw": "true"})["do_raw"] == "Yes"
    with pytest.raises(ValueError, match="number"):
        spec.params({"angpix": "big"})


def test_queue_defaults_come_from_relion_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELION_QSUB_COMMAND", "qsub -V")
    monkeypatch.setenv("RELION_QUEUE_NAME", "gpu")
    monkeypatch.setenv("RELION_QSUB_TEMPLATE", "/opt/templates/slurm.sh")
    monkeypatch.setenv("RELION_QUEUE_USE", "yes")
    monkeypatch.setenv("RELION_MINIMUM_DEDICATED", "24")
    monkeypatch.setenv("RELION_QSUB_EXTRA1", "Hours:")
    monkeypatch.setenv("RELION_QSUB_EXTRA1_DEFAULT", "12")
    defaults = job_spec().defaults()
    assert (defaults["qsub"], defaults["queuename"], defaults["qsubscript"], defaults["do_queue"],
            defaults["min_dedicated"], defaults["qsub_extra1"]) == (
        "qsub -V", "gpu", "/opt/templates/slurm.sh", "Yes", "24", "12")


def test_params_typed_access() -> None:
    params = Params({"a": "Yes", "n": " 2.0 ", "x": "1.5"})
    assert params.flag("a") and params.integer("n") == 2 and params.number("x") == 1.5
    with pytest.raises(ValueError, match="whole"):
        params.integer("x")
