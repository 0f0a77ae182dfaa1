"""The page in headless Chromium: create a project, run Import, read its stdout, display a stack,
sort it, select particles and classes and save them as Subset selections.

Skipped, with the reason, where chromium, chromium-driver or selenium is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.gui.browser import browser_or_skip, live_gui
from tests.gui.conftest import MODEL, write_classes, write_particles
from tests.pipeline.helpers import make_files
from vitreo.io.mrc import write_mrc
from vitreo.io.star import read_star
from vitreo.pipeline.project import Project

WAIT_S = 120


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (each test serves its own project on its own port)."""
    driver = browser_or_skip()
    yield driver
    driver.quit()


def wait_for(browser, condition, timeout: float = WAIT_S):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(lambda _: condition())


def by_id(browser, name: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, name)


def css(browser, selector: str):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, selector)


def xpath(browser, expression: str):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.XPATH, expression)


def test_create_project_run_import_and_read_its_output(tmp_path: Path, browser, monkeypatch) -> None:
    monkeypatch.setenv("VITREO_IMPORT_PROBE_SECONDS", "0.05")
    root = tmp_path / "project"
    make_files(root / "Movies", ["m1.tiff", "m2.tiff"])
    with live_gui(root) as url:
        browser.get(url)
        wait_for(browser, lambda: by_id(browser, "create-project").is_displayed())
        by_id(browser, "create-confirm").click()
        wait_for(browser, lambda: by_id(browser, "main").is_displayed())
        assert (root / "default_pipeline.star").is_file()

        wait_for(browser, lambda: css(browser, "#job-types button[data-type='relion.import']"))[0].click()
        field = wait_for(browser, lambda: css(browser, "input[name='fn_in_raw']"))[0]
        assert "Micrographs/*.tif" == field.get_attribute("value")
        label = css(browser, "label[for='fn_in_raw']")[0]
        from vitreo.jobs.registry import find_spec

        assert label.get_attribute("title") == find_spec("Import").option("fn_in_raw").help  # the tooltip
        field.find_element("xpath", "../button[text()='Browse…']").click()  # choose a file in the project
        wait_for(browser, lambda: xpath(browser, "//ul[@class='browser']/li[text()='Movies/']"))[0].click()
        wait_for(browser, lambda: xpath(browser, "//ul[@class='browser']/li[text()='m1.tiff']"))[0].click()
        wait_for(browser, lambda: field.get_attribute("value") == "Movies/m1.tiff")
        field.clear()
        field.send_keys("Movies/*.tiff")
        by_id(browser, "alias").send_keys("movies")
        by_id(browser, "run-now").click()
        wait_for(browser, lambda: css(browser, "#list-finished li[data-job='Import/job001/']"))
        wait_for(browser, lambda: "Running Import/job001/" in by_id(browser, "stdout").text)
        outputs = [a.text for a in css(browser, "#job-outputs a")]
        assert outputs == ["Import/job001/movies.star"]
        assert "m2.tiff" in (root / "Import/job001/movies.star").read_text()


def test_display_a_stack_sort_it_and_save_selections(tmp_path: Path, browser) -> None:
    root = tmp_path / "project"
    Project.init(root)
    _, particles = write_particles(root, n=12, classes=3)
    score = particles["rlnAutopickFigureOfMerit"]
    with live_gui(root) as url:
        browser.get(url)
        wait_for(browser, lambda: by_id(browser, "main").is_displayed())
        by_id(browser, "menu-display").click()  # File > Display, then browse to the file
        wait_for(browser, lambda: xpath(browser, "//ul[@class='browser']/li[text()='Particles/']"))[0].click()
        wait_for(browser, lambda: xpath(browser, "//ul[@class='browser']/li[text()='particles.star']"))[0].click()
        wait_for(browser, lambda: len(css(browser, ".montage .cell")) == 12)
        from selenium.webdriver.support.ui import Select

        Select(css(browser, ".controls select")[0]).select_by_value("rlnAutopickFigureOfMerit")
        reverse = xpath(browser, "//label[contains(., 'reverse')]/input")[0]
        reverse.click()
        expected = np.argsort(-score, kind="stable").tolist()
        wait_for(browser, lambda: [int(c.get_attribute("data-row")) for c in css(browser, ".montage .cell")] == expected)

        for cell in css(browser, ".montage .cell")[:3]:
            cell.click()
        wait_for(browser, lambda: len(css(browser, ".montage .cell.selected")) == 3)
        xpath(browser, "//button[text()='Save selected']")[0].click()
        wait_for(browser, lambda: "Select/job001/: 3 particles" in by_id(browser, "message").text)
        saved = read_star(root / "Select/job001/particles.star")["particles"]
        assert sorted(saved["rlnImageName"].tolist()) == sorted(particles["rlnImageName"][expected[:3]].tolist())


def test_save_a_class_selection(tmp_path: Path, browser) -> None:
    root = tmp_path / "project"
    Project.init(root)
    _, particles = write_particles(root, n=30, classes=3)
    write_classes(root, particles)
    with live_gui(root) as url:
        browser.get(url)
        wait_for(browser, lambda: by_id(browser, "main").is_displayed())
        browser.execute_script(f"Display.open('{MODEL}')")
        wait_for(browser, lambda: len(css(browser, ".montage .cell")) == 3)
        css(browser, ".montage .cell")[1].click()
        wait_for(browser, lambda: len(css(browser, ".montage .cell.selected")) == 1)
        max_per_class = xpath(browser, "//label[contains(., 'max per class')]/input")[0]
        max_per_class.clear()
        max_per_class.send_keys("4")
        xpath(browser, "//button[text()='Save selected']")[0].click()
        wait_for(browser, lambda: "Select/job001/: 4 particles" in by_id(browser, "message").text)
        saved = read_star(root / "Select/job001/particles.star")["particles"]
        assert saved["rlnClassNumber"].tolist() == [2, 2, 2, 2]


def test_a_display_url_opens_the_file(tmp_path: Path, browser) -> None:
    root = tmp_path / "loose"
    root.mkdir()
    write_mrc(root / "map.mrc", np.random.default_rng(0).standard_normal((8, 8, 8)).astype(np.float32), 1.0)
    with live_gui(root) as url:  # `vitreo display map.mrc` outside any project
        browser.get(url + "#display=map.mrc")
        wait_for(browser, lambda: len(css(browser, ".slices img")) == 3)
        assert by_id(browser, "overlay-title").text == "map.mrc"


def test_map_surface_coloured_by_a_local_resolution_map(tmp_path: Path, browser) -> None:
    import io

    from PIL import Image

    root = tmp_path / "maps"
    root.mkdir()
    z, y, x = np.mgrid[:32, :32, :32] - 15.5
    write_mrc(root / "map.mrc", (np.sqrt(x**2 + y**2 + z**2) < 13).astype(np.float32), 2.0)  # a ball
    write_mrc(root / "locres.mrc", (x + 15.5).astype(np.float32), 2.0)  # "resolution" rising along x
    with live_gui(root) as url:
        browser.get(url + "#display=map.mrc")
        threshold = wait_for(browser, lambda: xpath(browser, "//label[contains(., 'threshold')]/input"))[0]
        threshold.clear()
        threshold.send_keys("1\n")  # mean + 1 std of a ball filling 28% of the box: its edge
        xpath(browser, "//button[text()='3D surface']")[0].click()
        wait_for(browser, lambda: css(browser, ".surface canvas"))
        note = xpath(browser, "//section/div[@class='controls']/span")[0]

        def colours() -> np.ndarray:
            if "no 3D view" in note.text:
                pytest.skip(f"this browser cannot draw WebGL: {note.text}")
            image = Image.open(io.BytesIO(css(browser, ".surface")[0].screenshot_as_png)).convert("RGB")
            pixels = np.asarray(image, dtype=int).reshape(-1, 3)
            return pixels[np.abs(pixels - 255).sum(1) > 60]  # not background

        wait_for(browser, lambda: len(colours()) > 2000)  # the ball is drawn
        xpath(browser, "//label[contains(., 'colour by map')]/input")[0].send_keys("locres.mrc\n")
        wait_for(browser, lambda: "(blue) to 31.0 (red)" in note.text)

        def blue_and_red() -> bool:
            drawn = colours()
            return bool(np.sum(drawn[:, 2] > drawn[:, 0] + 80) > 200 and np.sum(drawn[:, 0] > drawn[:, 2] + 80) > 200)

        wait_for(browser, blue_and_red, timeout=30)


def test_pick_particles_and_save_them(tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    from tests.gui.test_picking_api import MICS, manualpick_job
    from vitreo.io.coords import read_coordinates

    root = tmp_path / "project"
    Project.init(root)
    job = manualpick_job(root, micscale="1", diameter="30", lowpass="-1")  # 200 x 150 px shown 1:1, circles of 20 px
    with live_gui(root) as url:
        browser.get(url)
        wait_for(browser, lambda: css(browser, f"#list-finished li[data-job='{job}']"))[0].click()
        wait_for(browser, lambda: "ManualPick" in by_id(browser, "job-title").text)
        xpath(browser, "//button[@data-action='pick']")[0].click()
        svg = wait_for(browser, lambda: [s for s in css(browser, "svg.picks") if s.get_attribute("width") == "200"])[0]

        def click(x: int, y: int) -> None:  # micrograph pixels; selenium offsets are from the centre
            ActionChains(browser).move_to_element_with_offset(svg, x - 100, y - 75).click().perform()

        click(50, 50)
        click(150, 100)
        wait_for(browser, lambda: len(css(browser, "svg.picks circle")) == 2)
        click(53, 48)  # on the first pick: deletes it
        wait_for(browser, lambda: len(css(browser, "svg.picks circle")) == 1)
        xpath(browser, "//button[text()='Save picks']")[0].click()
        wait_for(browser, lambda: f"1 picks saved for {MICS[0]}" in by_id(browser, "message").text)
        table = read_coordinates(root / "ManualPick/job001/Movies/mic1_manualpick.star")
        assert abs(table["rlnCoordinateX"][0] - 150) <= 1.5 and abs(table["rlnCoordinateY"][0] - 100) <= 1.5


def test_plot_the_fsc_curve_of_a_real_postprocess_star(tmp_path: Path, browser, shared_data: Path) -> None:
    from selenium.webdriver.support.ui import Select

    root = tmp_path / "post"
    root.mkdir()
    (root / "postprocess.star").write_bytes((shared_data / "star/starfile/postprocess.star").read_bytes())
    fsc = read_star(root / "postprocess.star")["fsc"]
    with live_gui(root) as url:
        browser.get(url + "#display=postprocess.star")
        section = wait_for(browser, lambda: xpath(browser, "//section[h4[starts-with(., 'data_fsc')]]"))[0]
        from selenium.webdriver.common.by import By

        selects = section.find_elements(By.CSS_SELECTOR, ".controls select")
        Select(selects[0]).select_by_value("rlnFourierShellCorrelationCorrected")
        Select(selects[1]).select_by_value("rlnResolution")
        section.find_element(By.XPATH, ".//button[text()='Plot']").click()
        path = wait_for(browser, lambda: section.find_elements(By.CSS_SELECTOR, "svg path"))[0]
        assert path.get_attribute("data-series") == "rlnFourierShellCorrelationCorrected"
        assert path.get_attribute("d").count("L") == len(fsc) - 1  # one vertex per shell


def test_files_are_shown_sandboxed(tmp_path: Path, browser) -> None:
    root = tmp_path / "files"
    root.mkdir()
    (root / "trap.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="60" height="60"><rect width="50" '
                                   'height="50" fill="red"/><script>parent.document.title = "pwned"</script></svg>')
    with live_gui(root) as url:
        browser.get(url + "#display=trap.svg")
        frame = wait_for(browser, lambda: css(browser, "iframe.file"))[0]
        browser.switch_to.frame(frame)
        try:
            wait_for(browser, lambda: "<rect" in browser.page_source)  # the file is shown...
        finally:
            browser.switch_to.default_content()
        assert browser.title == "vitreo"  # ...but its script did not run
