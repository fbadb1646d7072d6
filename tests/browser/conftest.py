"""Real headless Chromium (Debian's) driven by Playwright, against the local twin."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from local.twin import Stack
from tests.support.clients import https_client
from tests.support.operator import twin_command
from tests.support.pages import chromium_path, open_page, screenshot_name
from tests.support.paths import ARTIFACTS
from tests.support.servers import running_twin
from tests.support.waiting import wait_for_version


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
        twin_command(twin, "train", "--features", "age,salary,gender")
        twin_command(twin, "promote", "2")
        with https_client(twin) as client:
            wait_for_version(client, 2)
        yield twin


@pytest.fixture
def gender_page(browser: Browser, gender_stack: Stack, console_errors: list[str],
                request: pytest.FixtureRequest) -> Iterator[Page]:
    shot = ARTIFACTS / "screenshots" / screenshot_name(request.node.name)
    with open_page(browser, f"{gender_stack.https_url}/", console_errors, shot) as page:
        yield page
