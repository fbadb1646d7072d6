"""`make test` skips nothing in CI: the suite's one conditional skip turns into a failure under
`CI=true`, and no test skips any other way."""

import re
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
             if path != ROOT / "tests" / "support" / "privileges.py"
             and path != ROOT / "tests" / "unit" / "test_nothing_skips.py"
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if skipping.search(line)]
    assert found == [], f"tests that can skip: {found}"
