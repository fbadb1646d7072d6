"""Debian's Chromium, and opening the web page in a fresh browser context, with a screenshot
kept afterwards."""

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Chromium not found: apt-get install chromium (Playwright drives Debian's)")
    return found


@contextmanager
def open_page(browser: Browser, url: str, console_errors: list[str], screenshot: Path,
              width: int = 1200, height: int = 1100) -> Iterator[Page]:
    context = browser.new_context(ignore_https_errors=True,
                                  viewport={"width": width, "height": height})
    page = context.new_page()

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("console", record)
    # A request that got no answer at all (the network failed, or the browser cancelled it).
    page.on("requestfailed",
            lambda request: console_errors.append(f"request failed: {request.method} "
                                                  f"{request.url} {request.failure}"))
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    yield page
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    context.close()


def screenshot_name(test_name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", test_name).strip("_") + ".png"
