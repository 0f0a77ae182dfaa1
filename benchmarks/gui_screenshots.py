"""Screenshots of the GUI's main views in headless Chromium, on the real RELION 5 betagal project
snapshot in ../shared/data (plus a small Import run for live stdout).

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import SHARED_DATA  # noqa: E402
from tests.gui.browser import browser_or_skip, live_gui  # noqa: E402

PROJECT = "relion5_betagal_sppractice"


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    os.environ["VITREO_IMPORT_PROBE_SECONDS"] = "0.05"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "betagal"
        for tree in ("star", "images"):
            shutil.copytree(SHARED_DATA / tree / PROJECT, root, dirs_exist_ok=True)
        shutil.copy(SHARED_DATA / "maps/betaGal.mrc", root / "betaGal.mrc")
        shutil.copy(SHARED_DATA / "star/starfile/postprocess.star", root / "postprocess.star")
        (root / "Raw").mkdir()
        for index in range(3):
            (root / "Raw" / f"movie{index}.tiff").write_text("x")
            os.utime(root / "Raw" / f"movie{index}.tiff", (1e9, 1e9))
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
                    "classes_sorted.png": "Display.open('Class2D/job010/run_it025_model.star')",
                    "micrograph.png": "Display.open('MotionCorr/job002/Movies/20170629_00021_frameImage_PS.mrc')",
                    "map_slices.png": "Display.open('betaGal.mrc')",
                    "star_table.png": "Display.open('CtfFind/job005/micrographs_ctf.star')",
                    "fsc_plot.png": "Display.open('postprocess.star')",
                    "flowchart.png": "Display.show('Flowchart', el('img', {src: apiUrl('job/flowchart', "
                                     "{job: 'Class2D/job010/'})}))",
                }
                for name, script in views.items():
                    browser.execute_script(script)
                    time.sleep(2)
                    if name == "fsc_plot.png":
                        browser.execute_script("""const c = document.querySelectorAll('#overlay-body section')[1].querySelector('.controls');
                            const [y, x] = c.querySelectorAll('select');
                            for (const o of y.options) o.selected = /rlnFourierShellCorrelation(Corrected|ParticleMaskFraction|MaskedMaps|UnmaskedMaps)|rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps/.test(o.value);
                            x.value = 'rlnResolution'; c.querySelector('button').click();""")
                        time.sleep(1)
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
                    browser.save_screenshot(str(out / name))
                    browser.execute_script("Display.close()")
        finally:
            browser.quit()
    print(f"screenshots in {out}: {', '.join(sorted(p.name for p in out.glob('*.png')))}")


if __name__ == "__main__":
    main()
