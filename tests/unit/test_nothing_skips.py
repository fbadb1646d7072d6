"""`make test` skips nothing in CI: under `CI=true` any skip is reported failed
(tests/support/no_skips.py), the suite's one conditional skip fails with its own message, and
no test is written to skip any other way."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import ROOT
from tests.support.privileges import require_root


def outcome(**conditions: Any) -> str:
    """What require_root does to a test under these conditions: fail, skip or run."""
    try:
        require_root("network namespaces", **conditions)
    except pytest.fail.Exception as failure:  # caught here: it must not end this test
        return f"fail: {failure}"
    except pytest.skip.Exception as skip:  # likewise: a skip would hide a broken gate
        return f"skip: {skip}"
    return "runs"


def test_without_root_ci_fails_where_a_laptop_skips() -> None:
    in_ci = outcome(euid=1000, environ={"CI": "true"})
    assert in_ci.startswith("fail: "), f"in CI the test was not failed: {in_ci}"
    assert "CI must run every test" in in_ci
    on_a_laptop = outcome(euid=1000, environ={})
    assert on_a_laptop.startswith("skip: ") and "runs in CI" in on_a_laptop


def test_a_missing_tool_fails_in_ci_even_as_root() -> None:
    def no_iptables(tool: str) -> str | None:
        return None if tool == "iptables" else f"/usr/sbin/{tool}"

    missing = outcome(euid=0, which=no_iptables, environ={"CI": "true"})
    assert missing.startswith("fail: ") and "iptables" in missing
    assert outcome(euid=0, which=lambda tool: f"/usr/sbin/{tool}", environ={"CI": "true"}) == "runs"


def test_no_test_skips_any_other_way() -> None:
    skipping = re.compile(r"pytest\.skip\(|importorskip|mark\.skip|xfail")
    found = [f"{path.relative_to(ROOT)}:{number}"
             for path in sorted((ROOT / "tests").rglob("*.py"))
             if path.name not in ("privileges.py", "no_skips.py", "test_nothing_skips.py")
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if skipping.search(line)]
    assert found == [], f"tests that can skip: {found}"


SKIPPING = """
import unittest
import pytest

def test_skips():
    pytest.skip("no reason")

@pytest.mark.parametrize("value", [])
def test_with_no_parameters(value):
    pass

def test_raises_unittest_skip():
    raise unittest.SkipTest("old style")

@pytest.mark.skip(reason="marked")
def test_marked():
    pass
"""


def run_pytest(folder: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    test = folder / "test_skipping.py"
    test.write_text(SKIPPING)
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci:
        env["CI"] = "true"
    # This repository's plugin, loaded as pyproject.toml's addopts load it for the suite.
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "tests.support.no_skips", "--rootdir", str(folder), "-c", os.devnull, str(test)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def test_a_skip_of_any_kind_fails_in_ci(tmp_path: Path) -> None:
    in_ci = run_pytest(tmp_path, ci=True)
    # A skip in the call fails the test; one in setup (a mark, no parameters) errors it.
    summary = in_ci.stdout.strip().splitlines()[-1]
    assert in_ci.returncode == 1 and "skipped" not in summary, (
        f"a skip was not failed in CI: {in_ci.stdout[-600:]}")
    for name in ("test_skips", "test_with_no_parameters", "test_raises_unittest_skip",
                 "test_marked"):
        assert re.search(rf"{name}\S* - skipped in CI, where every test must run", in_ci.stdout)
    elsewhere = run_pytest(tmp_path, ci=False)
    assert elsewhere.returncode == 0 and "4 skipped" in elsewhere.stdout, elsewhere.stdout[-600:]


def test_the_suite_loads_the_plugin() -> None:
    addopts = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^addopts = ".*-p tests\.support\.no_skips.*"$', addopts, re.M)
