"""A pytest plugin (pyproject.toml's addopts load it for every run): under `CI=true`, as
`.ci/run` sets it, a test that skips, whatever skipped it (`pytest.skip`, a skip mark, an
empty parameter set, `unittest.SkipTest`, an xfail), is reported failed. CI runs every test."""

import os
from collections.abc import Generator
from typing import Any

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true":
        # A skip's longrepr is (path, line, reason); an xfail's reason is in wasxfail.
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else getattr(
            report, "wasxfail", "")
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"
