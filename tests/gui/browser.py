"""Headless Chromium (Debian's chromium + chromium-driver, through selenium) on a live GUI server.

Tests using :func:`live_gui` skip, saying why, when the browser, its driver or selenium is absent.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vitreo.gui.app import create_app
from vitreo.gui.server import allowed_hosts, free_port, start_url

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
TOKEN = "browser-test-token"


def _first(paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if Path(p).is_file()), None)


def browser_or_skip():
    """A headless Chromium webdriver; skips the test when something it needs is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    chromium, driver = _first(CHROMIUM) or shutil.which("chromium"), _first(DRIVER) or shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("headless browser tests need Debian's chromium and chromium-driver (apt-get install)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--disable-extensions", "--enable-unsafe-swiftshader"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


@contextlib.contextmanager
def live_gui(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 in a thread; yields the start URL (with the token)."""
    import uvicorn

    port = free_port("127.0.0.1")
    config = uvicorn.Config(create_app(root, TOKEN, allowed_hosts("127.0.0.1")), host="127.0.0.1", port=port,
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield start_url("127.0.0.1", port, TOKEN)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
