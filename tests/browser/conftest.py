"""Real headless Chromium (Debian's) driven by Playwright, against the local twin."""

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from local.twin import Stack
from tests.conftest import ARTIFACTS

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Chromium not found: apt-get install chromium (Playwright drives Debian's)")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def console_errors() -> list[str]:
    """Errors the page logs (a CSP violation or a failed load shows up here)."""
    return []


@pytest.fixture
def page(browser: Browser, stack: Stack, console_errors: list[str],
         request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(ignore_https_errors=True,
                                  viewport={"width": 1200, "height": 1100})
    page = context.new_page()

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("console", record)
    page.goto(f"{stack.https_url}/")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    context.close()
