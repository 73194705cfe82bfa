"""Fixtures for the page tests: a live server on this suite's own port and Debian's Chromium via Playwright."""
import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "artifacts" / "screenshots"
# Port 0: the OS picks a free port, so two xdist workers (or two runs on one machine) never clash.
PAGES_SERVER_ADDRESS = os.environ.get("PAGES_LIVE_SERVER", "127.0.0.1:0")


@pytest.fixture(scope="session")
def _pages_server_session():
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer(PAGES_SERVER_ADDRESS)
    yield server
    server.stop()


@pytest.fixture
def pages_server(_pages_server_session, transactional_db):
    """The Django app served by a thread of this process; tests and server share the (committed) database."""
    _pages_server_session._live_server_modified_settings.enable()
    yield _pages_server_session
    _pages_server_session._live_server_modified_settings.disable()


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package (.ci/run does)")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshots_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
