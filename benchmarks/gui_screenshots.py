"""Screenshots of the GUI's main views in headless Chromium, on the real RELION 5 betagal project
snapshot in ../shared/data, plus:

- a small Import run (live stdout in the main window);
- vitreo's CTF fit of RELION's real power spectrum of movie 00021 (the CTF fit view);
- the official RELION 3.1 tutorial's refined particles (star/simplecryoem; angular distribution);
- a small simulated micrograph with its true particle (red) and junk (blue) positions as picks,
  coloured by a figure of merit set to 0.9 for particles and 0.1 for junk (manual picking);
- three "3D classes" made from the real betaGal map turned about x, y and z (an illustration of
  the 3D class montage: there is no real Class3D output in the shared data).

Usage: python benchmarks/gui_screenshots.py [OUT_DIR]   (default docs/screenshots)
Needs Debian's chromium and chromium-driver, and selenium (the test extra).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import SHARED_DATA  # noqa: E402
from tests.gui.browser import browser_or_skip, live_gui  # noqa: E402
from vitreo.gui.picking import picking_job, save_picks  # noqa: E402
from vitreo.io.mrc import read_mrc, write_mrc  # noqa: E402
from vitreo.io.star import Table, read_star, write_star  # noqa: E402
from vitreo.jobs.registry import find_spec  # noqa: E402
from vitreo.pipeline.job_state import mark_finished  # noqa: E402
from vitreo.pipeline.project import Project  # noqa: E402
from vitreo.pipeline.submit import create_job  # noqa: E402
from vitreo.preprocess.ctf_estimation import CtfSettings, estimate_ctf  # noqa: E402
from vitreo.preprocess.ctf_model import Optics  # noqa: E402
from vitreo.preprocess.ctffind_files import write_ctffind_files  # noqa: E402
from vitreo.simulate import preset, simulate_dataset  # noqa: E402

PROJECT = "relion5_betagal_sppractice"
SPECTRUM = "MotionCorr/job002/Movies/20170629_00021_frameImage_PS.mrc"
CTF_FIT = "CtfFind/vitreo/20170629_00021_frameImage_PS"
CLASSES = "Class3D/illustration/run_it025_model.star"


def real_project(root: Path) -> None:
    """The betagal snapshot, a map, a postprocess.star and refined particles."""
    for tree in ("star", "images"):
        shutil.copytree(SHARED_DATA / tree / PROJECT, root, dirs_exist_ok=True)
    shutil.copy(SHARED_DATA / "maps/betaGal.mrc", root / "betaGal.mrc")
    shutil.copy(SHARED_DATA / "star/starfile/postprocess.star", root / "postprocess.star")
    shutil.copy(SHARED_DATA / "star/simplecryoem/particles.star", root / "refined_particles.star")
    (root / "Raw").mkdir()
    for index in range(3):
        (root / "Raw" / f"movie{index}.tiff").write_text("x")
        os.utime(root / "Raw" / f"movie{index}.tiff", (1e9, 1e9))


def ctf_fit(root: Path) -> str:
    """vitreo's fit of RELION's power spectrum, written as CTFFIND's files; returns the .ctf name."""
    image, pixel = read_mrc(root / SPECTRUM)
    settings = CtfSettings(Optics(200.0, 1.4, 0.1), res_min=30.0, res_max=5.0)
    (root / CTF_FIT).parent.mkdir(parents=True)
    write_ctffind_files(root / CTF_FIT, SPECTRUM, estimate_ctf(torch.as_tensor(image), pixel, settings), settings)
    return CTF_FIT + ".ctf"


def illustrative_classes(root: Path) -> str:
    """betaGal turned about x, y and z as three 3D classes of a _model.star."""
    volume, pixel = read_mrc(root / "betaGal.mrc")
    names = []
    for k, axes in enumerate(((0, 1), (0, 2), (1, 2)), start=1):
        names.append(f"Class3D/illustration/run_it025_class{k:03d}.mrc")
        write_mrc(root / names[-1], np.ascontiguousarray(np.rot90(volume, axes=axes)), pixel)
    write_star(root / CLASSES, {"model_general": {"rlnReferenceDimensionality": 3, "rlnPixelSize": pixel},
                                "model_classes": Table({"rlnReferenceImage": names, "rlnClassDistribution": [0.45, 0.35, 0.2],
                                                        "rlnEstimatedResolution": [8.1, 9.4, 12.7]})})
    return CLASSES


def simulated_picks(root: Path) -> str:
    """A simulated micrograph in a ManualPick job whose picks are the true particle and junk positions."""
    dataset = simulate_dataset(root / "Simulated", preset("tiny", n_micrographs=1, micrographs_only=True))
    blocks = read_star(dataset.micrographs_star)
    micrograph = "Simulated/" + str(blocks["micrographs"]["rlnMicrographName"][0])
    micrographs = Table({"rlnMicrographName": [micrograph], "rlnOpticsGroup": [1]})
    write_star(root / "Simulated/micrographs.star", {"optics": blocks["optics"], "micrographs": micrographs})
    project = Project.open(root)
    spec = find_spec("ManualPick")
    run = create_job(project, spec, spec.params({"fn_in": "Simulated/micrographs.star", "diameter": "180", "micscale": "1",
                                                 "lowpass": "20", "do_color": "Yes", "blue_value": "0", "red_value": "1"}),
                     alias="simulated")
    job = mark_finished(project, run.name)
    truth = read_star(dataset.particles_star)["particles"]
    junk = np.asarray(truth["rlnVitreoIsJunk"], dtype=bool)
    save_picks(project, picking_job(project, job), micrograph, truth["rlnCoordinateX"].tolist(),
               truth["rlnCoordinateY"].tolist(), np.where(junk, 0.1, 0.9).tolist())
    return job


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    os.environ["VITREO_IMPORT_PROBE_SECONDS"] = "0.05"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "betagal"
        real_project(root)
        ctf = ctf_fit(root)
        classes = illustrative_classes(root)
        picking = simulated_picks(root)
        browser = browser_or_skip()
        browser.set_window_size(1500, 950)
        try:
            with live_gui(root) as url:
                browser.get(url)
                time.sleep(1.5)
                browser.execute_script("""api('jobs', {body: {type: 'relion.import', values: {fn_in_raw: 'Raw/*.tiff',
                    angpix: '0.885'}, alias: 'raw_movies'}}).then(r => selectJob(r.job))""")
                time.sleep(8)
                browser.execute_script("selectJob('Class2D/job010/')")
                time.sleep(1.5)
                browser.execute_script("selectJob('Import/raw_movies/')")
                time.sleep(3)
                browser.save_screenshot(str(out / "main_window.png"))
                views = {
                    "classes_sorted.png": "Display.open('Class2D/job010/run_it025_optimiser.star')",
                    "classes_3d.png": f"Display.open('{classes}')",
                    "micrograph.png": f"Display.open('{SPECTRUM}')",
                    "map_slices.png": "Display.open('betaGal.mrc')",
                    "star_table.png": "Display.open('CtfFind/job005/micrographs_ctf.star')",
                    "fsc_plot.png": "Display.open('postprocess.star')",
                    "ctf_fit.png": f"Display.open('{ctf}')",
                    "motion_tracks.png": "Display.open('MotionCorr/job002/Movies/20170629_00021_frameImage.star')",
                    "angular_distribution.png": "Display.angdist('refined_particles.star')",
                    "picking.png": f"Display.picking('{picking}')",
                    "flowchart.png": "Display.show('Flowchart', el('img', {src: apiUrl('job/flowchart', "
                                     "{job: 'Class2D/job010/'})}))",
                }
                for name, script in views.items():
                    browser.execute_script(script)
                    time.sleep(2.5)
                    if name == "map_slices.png":
                        browser.find_element("xpath", "//button[text()='3D surface']").click()
                        time.sleep(4)
                    if name == "classes_sorted.png":
                        browser.execute_script("""const s = document.querySelector('.controls select');
                            s.value = 'rlnClassDistribution'; s.dispatchEvent(new Event('change'));
                            document.querySelector('.controls input[type=checkbox]').click();""")
                        time.sleep(2)
                        for cell in browser.find_elements("css selector", ".montage .cell")[:4]:
                            cell.click()
                        time.sleep(0.5)
                    if name == "fsc_plot.png":  # the pointer on the FSC plot shows its read-out
                        plot = browser.find_element("css selector", ".star-views svg")
                        from selenium.webdriver.common.action_chains import ActionChains

                        ActionChains(browser).move_to_element_with_offset(plot, 0, 0).perform()
                        time.sleep(0.5)
                    browser.save_screenshot(str(out / name))
                    browser.execute_script("Display.close()")
        finally:
            browser.quit()
    print(f"screenshots in {out}: {', '.join(sorted(p.name for p in out.glob('*.png')))}")


if __name__ == "__main__":
    main()
