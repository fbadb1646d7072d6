"""Real headless Chromium (Debian's) driven by Playwright, against the local twin."""

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from local.twin import Stack
from tests.conftest import ARTIFACTS, running_twin
from tests.support.pages import open_page, screenshot_name

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
    shot = ARTIFACTS / "screenshots" / screenshot_name(request.node.name)
    with open_page(browser, f"{stack.https_url}/", console_errors, shot) as page:
        yield page


@pytest.fixture(scope="session")
def gender_stack() -> Iterator[Stack]:
    """A twin of its own whose served version uses gender: trained, then promoted (the API
    switches without a restart)."""
    limits = {"NGINX_PREDICT_RATE": "50r/s", "NGINX_PREDICT_BURST": "20"}
    with running_twin("gender", limits) as twin:
        for command in (["train", "--features", "age,salary,gender"], ["promote", "2"]):
            result = twin.migrate.operator("python", "-m", "app", *command, capture=True)
            assert result.returncode == 0, result.stderr
        with httpx.Client(base_url=twin.https_url, verify=twin.nginx.ssl_context()) as client:
            deadline = time.monotonic() + 5
            while client.get("/model").json()["model_version"] != 2:
                assert time.monotonic() < deadline, "version 2 not served within 5 s"
                time.sleep(0.05)
        yield twin


@pytest.fixture
def gender_page(browser: Browser, gender_stack: Stack, console_errors: list[str],
                request: pytest.FixtureRequest) -> Iterator[Page]:
    shot = ARTIFACTS / "screenshots" / screenshot_name(request.node.name)
    with open_page(browser, f"{gender_stack.https_url}/", console_errors, shot) as page:
        yield page
