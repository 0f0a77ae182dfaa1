"""The page in headless Chromium: create a project, run Import and a ManualPick job, read stdout, pick
particles and save them, display a stack, sort it, select particles and classes and save them as
Subset selections; the map, CTF-fit, plot, motion and angular-distribution views.

Skipped, with the reason, where chromium, chromium-driver or selenium is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.gui.browser import browser_or_skip, live_gui
from tests.gui.conftest import MODEL, write_classes, write_particles
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


def choose_type(browser, label: str) -> None:
    wait_for(browser, lambda: css(browser, f"#job-types button[data-type='{label}']"))[0].click()
    wait_for(browser, lambda: label.split(".")[1] in by_id(browser, "panel-title").text.lower().replace(" ", ""))


def set_option(browser, name: str, value: str, tab: str | None = None) -> None:
    """Type (or choose) a value in the parameter panel, on ``tab`` first when given."""
    from selenium.webdriver.support.ui import Select

    if tab:
        xpath(browser, f"//div[@id='tabs']/button[text()='{tab}']")[0].click()
    field = wait_for(browser, lambda: css(browser, f"#options [name='{name}']"))[0]
    if field.tag_name == "select":
        Select(field).select_by_value(value)
    else:
        field.clear()
        field.send_keys(value)


def test_create_a_project_import_micrographs_then_pick_them(tmp_path: Path, browser, monkeypatch) -> None:
    """From the page: create the project, run Import (reading its stdout), run a ManualPick job on
    Import's output chosen from the Browse list, then pick particles on it and save them."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    from vitreo.io.coords import read_coordinates
    from vitreo.jobs.registry import find_spec

    monkeypatch.setenv("VITREO_IMPORT_PROBE_SECONDS", "0.05")
    root = tmp_path / "project"
    for name in ("mic1", "mic2"):
        write_mrc(root / f"Micrographs/{name}.mrc", np.zeros((150, 200), np.float32), 1.5)
    with live_gui(root) as url:
        browser.get(url)
        wait_for(browser, lambda: by_id(browser, "create-project").is_displayed())
        by_id(browser, "create-confirm").click()
        wait_for(browser, lambda: by_id(browser, "main").is_displayed())
        assert (root / "default_pipeline.star").is_file()

        choose_type(browser, "relion.import")
        field = wait_for(browser, lambda: css(browser, "input[name='fn_in_raw']"))[0]
        assert "Micrographs/*.tif" == field.get_attribute("value")
        label = css(browser, "label[for='fn_in_raw']")[0]
        assert label.get_attribute("title") == find_spec("Import").option("fn_in_raw").help  # the tooltip
        field.find_element("xpath", "../button[text()='Browse…']").click()  # choose a file in the project
        wait_for(browser, lambda: xpath(browser, "//ul[@class='browser']/li[text()='Micrographs/']"))[0].click()
        wait_for(browser, lambda: xpath(browser, "//ul[@class='browser']/li[text()='mic1.mrc']"))[0].click()
        wait_for(browser, lambda: field.get_attribute("value") == "Micrographs/mic1.mrc")
        set_option(browser, "fn_in_raw", "Micrographs/*.mrc")
        set_option(browser, "is_multiframe", "No")
        set_option(browser, "angpix", "1.5")
        by_id(browser, "alias").send_keys("mics")
        by_id(browser, "run-now").click()
        wait_for(browser, lambda: css(browser, "#list-finished li[data-job='Import/job001/']"))
        wait_for(browser, lambda: "Running Import/job001/" in by_id(browser, "stdout").text)
        assert [a.text for a in css(browser, "#job-outputs a")] == ["Import/job001/micrographs.star"]

        choose_type(browser, "relion.manualpick")  # a small job on Import's output
        browse = wait_for(browser, lambda: css(browser, "#options select.browse"))[0]
        Select(browse).select_by_value("Import/job001/micrographs.star")
        assert css(browser, "input[name='fn_in']")[0].get_attribute("value") == "Import/job001/micrographs.star"
        set_option(browser, "diameter", "30", tab="Display")  # circles of 20 px at 1.5 Å/px
        set_option(browser, "micscale", "1")
        set_option(browser, "lowpass", "-1")
        by_id(browser, "run-now").click()
        wait_for(browser, lambda: css(browser, "#list-finished li[data-job='ManualPick/job002/']"))
        assert (root / "ManualPick/job002/micrographs_selected.star").is_file()

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
        wait_for(browser, lambda: "1 picks saved for Micrographs/mic1.mrc" in by_id(browser, "message").text)
        table = read_coordinates(root / "ManualPick/job002/Micrographs/mic1_manualpick.star")
        assert abs(table["rlnCoordinateX"][0] - 150) <= 1.5 and abs(table["rlnCoordinateY"][0] - 100) <= 1.5


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

        def selected() -> list[int]:
            return [int(c.get_attribute("data-row")) for c in css(browser, ".montage .cell.selected")]

        css(browser, ".montage .cell")[4].click()  # the anchor: all above it, in the sorted order
        xpath(browser, "//button[text()='Select all above']")[0].click()
        wait_for(browser, lambda: selected() == expected[:5])
        xpath(browser, "//button[text()='Invert']")[0].click()
        wait_for(browser, lambda: selected() == expected[5:])
        xpath(browser, "//button[text()='Select all']")[0].click()
        wait_for(browser, lambda: len(selected()) == 12)
        xpath(browser, "//button[text()='Clear']")[0].click()
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
        assert read_star(root / "Select/job001/class_averages.star")[""]["rlnClassNumber"].tolist() == [2]


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


def svg_offset(browser, svg, x: float, y: float):
    """Move the pointer to (x, y) pixels from the top left of ``svg``."""
    from selenium.webdriver.common.action_chains import ActionChains

    width, height = float(svg.get_attribute("width")), float(svg.get_attribute("height"))
    ActionChains(browser).move_to_element_with_offset(svg, int(round(x - width / 2)), int(round(y - height / 2))).perform()


def plot_x(svg, value: float, low: float, high: float) -> float:
    """The pixel column of ``value`` on a curves plot whose x axis runs from low to high (Plot.curves' margins)."""
    width = float(svg.get_attribute("width"))
    return 64 + (value - low) / (high - low) * (width - 64 - 14)


def test_fsc_and_guinier_plots_of_a_real_postprocess_star(tmp_path: Path, browser, shared_data: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    root = tmp_path / "post"
    root.mkdir()
    (root / "postprocess.star").write_bytes((shared_data / "star/starfile/postprocess.star").read_bytes())
    fsc = read_star(root / "postprocess.star")["fsc"]
    with live_gui(root) as url:
        browser.get(url + "#display=postprocess.star")
        plot = wait_for(browser, lambda: xpath(browser, "//*[name()='svg'][*[name()='text' and starts-with(., 'FSC (data_fsc)')]]"))[0]
        assert "final resolution 16.4 Å" in plot.text
        curves = plot.find_elements(By.CSS_SELECTOR, "path[data-series]")
        assert [c.get_attribute("data-series") for c in curves] == ["corrected", "unmasked maps", "masked maps",
                                                                    "phase-randomised masked maps"]
        assert all(c.get_attribute("d").count("L") == len(fsc) - 1 for c in curves)  # one vertex per shell
        assert len(plot.find_elements(By.CSS_SELECTOR, "line.hline")) == 2  # 0.143 and 0.5
        resolution = np.asarray(fsc["rlnResolution"])
        shell = 20
        svg_offset(browser, plot, plot_x(plot, resolution[shell], resolution.min(), resolution.max()), 200)
        readout = plot.find_element(By.CSS_SELECTOR, "text.readout")
        value = float(fsc["rlnFourierShellCorrelationCorrected"][shell])
        expected = f"corrected {float(f'{value:.3g}'):g}"  # three significant digits, as the page writes them
        wait_for(browser, lambda: expected in readout.text and f"({1 / resolution[shell]:.3g} Å)" in readout.text)
        plot.find_element(By.XPATH, ".//*[name()='text' and @data-series='unmasked maps']").click()
        assert "hidden" in plot.find_element(By.CSS_SELECTOR, "g[data-series='unmasked maps']").get_attribute("class")
        guinier = xpath(browser, "//*[name()='svg'][*[name()='text' and .='Guinier plot']]")[0]
        assert len(guinier.find_elements(By.CSS_SELECTOR, "path[data-series]")) == 2  # original and weighted

        section = xpath(browser, "//section[h4[starts-with(., 'data_fsc')]]")[0]  # any columns, plotted by hand
        selects = section.find_elements(By.CSS_SELECTOR, ".controls select")
        Select(selects[0]).select_by_value("rlnFourierShellCorrelationCorrected")
        Select(selects[1]).select_by_value("rlnResolution")
        section.find_element(By.XPATH, ".//button[text()='Plot']").click()
        path = wait_for(browser, lambda: section.find_elements(By.CSS_SELECTOR, "svg path"))[0]
        assert path.get_attribute("data-series") == "rlnFourierShellCorrelationCorrected"
        assert path.get_attribute("d").count("L") == len(fsc) - 1


def test_ctf_fit_view(tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.by import By

    from tests.gui.test_ctf_view import CTF, PIXEL, TRUTH, write_fit
    from vitreo.preprocess.ctffind_files import read_avrot

    root = tmp_path / "project"
    Project.init(root)
    estimate = write_fit(root)
    with live_gui(root) as url:
        browser.get(url)
        wait_for(browser, lambda: by_id(browser, "main").is_displayed())
        browser.execute_script(f"Display.open('{CTF}')")
        image = wait_for(browser, lambda: css(browser, "img.ctf-image"))[0]
        wait_for(browser, lambda: browser.execute_script("return arguments[0].naturalWidth", image) == 256)
        summary = css(browser, ".ctf-summary")[0].text
        assert f"defocus U {estimate.params.defocus_u:.0f} Å" in summary and abs(estimate.params.defocus_u - TRUTH.defocus_u) < 30
        thon = xpath(browser, "//*[name()='svg'][*[name()='text' and .='Thon rings']]")[0]
        assert {p.get_attribute("data-series") for p in thon.find_elements(By.CSS_SELECTOR, "path[data-series]")} == \
            {"spectrum (equi-phase average)", "CTF fit"}
        nyquist = 1 / (2 * PIXEL)
        frequency = read_avrot(root / CTF.replace(".ctf", "_avrot.txt"))[0]
        shown = frequency[(frequency >= nyquist / 20) & (frequency <= nyquist)]  # the plotted range
        sample = shown[np.argmin(np.abs(shown - 0.2))]
        svg_offset(browser, thon, plot_x(thon, sample, shown.min(), shown.max()), 150)
        wait_for(browser, lambda: f"({float(f'{1 / sample:.3g}'):g} Å)" in thon.find_element(By.CSS_SELECTOR, "text.readout").text)


def test_picks_are_coloured_by_their_figure_of_merit(tmp_path: Path, browser) -> None:
    from tests.gui.test_picking_api import MICS, manualpick_job
    from vitreo.gui.picking import picking_job, save_picks

    root = tmp_path / "project"
    Project.init(root)
    job = manualpick_job(root, micscale="1", do_color="Yes", color_label="rlnAutopickFigureOfMerit",
                         blue_value="0", red_value="1")
    project = Project.open(root)
    save_picks(project, picking_job(project, job), MICS[0], [40.0, 100.0, 160.0], [50.0, 50.0, 50.0], [0.0, 0.5, 1.0])
    with live_gui(root) as url:
        browser.get(url)
        wait_for(browser, lambda: css(browser, f"#list-finished li[data-job='{job}']"))[0].click()
        wait_for(browser, lambda: "ManualPick" in by_id(browser, "job-title").text)
        xpath(browser, "//button[@data-action='pick']")[0].click()
        wait_for(browser, lambda: len(css(browser, "svg.picks circle")) == 3)
        strokes = [c.get_attribute("stroke") for c in css(browser, "svg.picks circle")]
        assert strokes == ["rgb(0,0,255)", "rgb(128,0,128)", "rgb(255,0,0)"]  # blue (0) to red (1)


def test_stderr_is_red_and_a_double_click_shows_all_of_it(tmp_path: Path, browser) -> None:
    root = tmp_path / "project"
    Project.init(root)
    with live_gui(root) as url:
        browser.get(url)
        choose_type(browser, "relion.import")
        set_option(browser, "fn_in_raw", "Nothing/*.tiff")  # no such files: the job fails
        by_id(browser, "run-now").click()
        wait_for(browser, lambda: css(browser, "#list-failed li[data-job='Import/job001/']"))
        box = by_id(browser, "stderr")
        wait_for(browser, lambda: "no files match this pattern" in box.text)
        assert box.value_of_css_property("color") == "rgba(204, 0, 0, 1)"
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(browser).double_click(box).perform()
        full = wait_for(browser, lambda: css(browser, "pre.full.err"))[0]
        assert (root / "Import/job001/run.err").read_text().strip() == full.text.strip()
        assert by_id(browser, "overlay-title").text == "Import/job001/ run.err"


def test_the_picker_opens_the_ctf_fit_of_its_micrograph(tmp_path: Path, browser) -> None:
    from tests.gui.test_ctf_view import write_fit
    from tests.gui.test_picking_api import MICS, manualpick_job

    root = tmp_path / "project"
    Project.init(root)
    job = manualpick_job(root)
    ctf = MICS[0].replace(".mrc", "_PS.ctf")  # the micrograph's rlnCtfImage
    write_fit(root, ctf)
    with live_gui(root) as url:
        browser.get(url)
        wait_for(browser, lambda: css(browser, f"#list-finished li[data-job='{job}']"))[0].click()
        wait_for(browser, lambda: "ManualPick" in by_id(browser, "job-title").text)
        xpath(browser, "//button[@data-action='pick']")[0].click()
        wait_for(browser, lambda: css(browser, "svg.picks"))
        main = browser.current_window_handle
        xpath(browser, "//button[text()='CTF image']")[0].click()
        wait_for(browser, lambda: len(browser.window_handles) == 2)
        browser.switch_to.window(next(h for h in browser.window_handles if h != main))
        try:
            wait_for(browser, lambda: by_id(browser, "overlay-title").text == f"CTF fit: {ctf}")
            wait_for(browser, lambda: css(browser, "img.ctf-image"))
        finally:
            browser.close()
            browser.switch_to.window(main)


def test_motion_tracks_view(tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.by import By

    from tests.gui.test_motion_view import MOTION, SIZE, write_motion

    root = tmp_path / "project"
    Project.init(root)
    shifts, observed = write_motion(root, None)
    with live_gui(root) as url:
        browser.get(url + f"#display={MOTION}")
        track = wait_for(browser, lambda: css(browser, "svg.motion polyline.global-track"))[0]
        zoom = 640 / SIZE[0]
        points = np.array([p.split(",") for p in track.get_attribute("points").split()], dtype=float)
        expected = (np.array(SIZE) / 2 + 40 * shifts) * zoom  # from the centre, enlarged 40 times
        assert np.abs(points - expected).max() < 0.01
        locals_ = css(browser, "svg.motion polyline.local-observed")
        assert len(locals_) == 2
        first = css(browser, "svg.motion circle.global-track-frame")[0]
        assert first.get_attribute("fill") == "red" and "frame 1" in first.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        scale = xpath(browser, "//label[contains(., 'enlarge shifts')]/input")[0]
        scale.clear()
        scale.send_keys("10\n")
        track = wait_for(browser, lambda: css(browser, "svg.motion[data-scale='10'] polyline.global-track"))[0]
        points = np.array([p.split(",") for p in track.get_attribute("points").split()], dtype=float)
        assert np.abs(points - (np.array(SIZE) / 2 + 10 * shifts) * zoom).max() < 0.01


def test_angular_distribution_view(tmp_path: Path, browser) -> None:
    from tests.gui.test_angular_distribution import write_angles

    root = tmp_path / "project"
    Project.init(root)
    rng = np.random.default_rng(0)
    name = write_angles(root, 33 + rng.uniform(-1, 1, 300), 58 + rng.uniform(-1, 1, 300))
    with live_gui(root) as url:
        browser.get(url + f"#display={name}")  # particles: the montage view, whose button opens the plot
        wait_for(browser, lambda: xpath(browser, "//button[text()='Angular distribution']"))[0].click()
        cells = wait_for(browser, lambda: css(browser, "svg.hammer polygon.cell"))
        assert len(cells) == 36 * 18
        full = [c for c in cells if c.get_attribute("data-count") != "0"]
        assert len(full) == 1 and full[0].get_attribute("data-count") == "300"
        assert float(full[0].get_attribute("data-rot")) <= 33 < float(full[0].get_attribute("data-rot")) + 10
        bins = xpath(browser, "//label[contains(., 'bins')]/input")[0]
        bins.clear()
        bins.send_keys("6\n")
        wait_for(browser, lambda: len(css(browser, "svg.hammer polygon.cell")) == 12 * 6)


def test_3d_classes_are_shown_as_their_views(tmp_path: Path, browser) -> None:
    from tests.gui.test_display_api import write_3d_classes

    root = tmp_path / "project"
    Project.init(root)
    _, particles = write_particles(root, n=30, classes=3)
    model, _ = write_3d_classes(root, particles)
    with live_gui(root) as url:
        browser.get(url + f"#display={model}")
        image = wait_for(browser, lambda: css(browser, ".montage img"))[0]
        size = "return [arguments[0].naturalWidth, arguments[0].naturalHeight]"
        wait_for(browser, lambda: browser.execute_script(size, image) == [3 * 16, 3 * 16])  # a class per row: z, y, x
        assert "view=projection" in image.get_attribute("src")
        from selenium.webdriver.support.ui import Select

        Select(xpath(browser, "//label[contains(., 'views')]/select")[0]).select_by_value("slice")
        wait_for(browser, lambda: "view=slice" in css(browser, ".montage img")[0].get_attribute("src"))
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(browser).double_click(wait_for(browser, lambda: css(browser, ".montage .cell"))[2]).perform()
        wait_for(browser, lambda: by_id(browser, "overlay-title").text == "Class3D/job002/run_it025_class003.mrc")


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
