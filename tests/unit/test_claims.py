"""docs/claims.md stays true to the suite: each claim names tests that exist, each control
named there exists and still applies to the files it breaks (tests/controls)."""

import ast
import re
from functools import cache

import pytest

from tests.controls.breakages import CONTROLS, Control
from tests.support.paths import ROOT

REGISTER = ROOT / "docs" / "claims.md"
NODE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
COMMANDS = ("`make bench`", "`make bench-compare`", "`make mutation`")
CONTROL_NAME = re.compile(r"`([a-z0-9-]+)`")


def table_rows(text: str) -> list[dict[str, str]]:
    """Each row of each table, as {column heading: cell}."""
    rows: list[dict[str, str]] = []
    heading: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            heading = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if heading is None:
            heading = cells
        elif not set("".join(cells)) <= set("-: "):
            rows.append(dict(zip(heading, cells, strict=True)))
    return rows


@cache
def defined_tests(path: str) -> frozenset[str]:
    """The test functions a file defines (module level and in classes), read with ast."""
    tree = ast.parse((ROOT / path).read_text())
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                     and node.name.startswith("test_"))


def missing_tests(cell: str) -> list[str]:
    return [f"{path}::{name}" for path, name in NODE.findall(cell)
            if not (ROOT / path).exists() or name not in defined_tests(path)]


ROWS = table_rows(REGISTER.read_text())


def test_the_register_has_its_tables() -> None:
    assert len(ROWS) >= 60
    assert all({"claim", "stated in", "proved by", "control"} <= set(row) for row in ROWS)


def test_every_claim_names_a_proof() -> None:
    unproved = [row["claim"] for row in ROWS
                if not NODE.search(row["proved by"])
                and not any(command in row["proved by"] for command in COMMANDS)]
    assert unproved == []


def test_every_listed_test_exists() -> None:
    missing = sorted({node for row in ROWS for node in missing_tests(row["proved by"])})
    assert missing == [], "docs/claims.md names tests that no longer exist"


def test_every_source_document_is_covered() -> None:
    cited = {source.strip() for row in ROWS for source in row["stated in"].split(",")}
    documents = {"README"} | {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")
                              if p.name != "claims.md"}
    assert documents - cited == set()


def test_controls_and_register_name_each_other() -> None:
    named = {name for row in ROWS for name in CONTROL_NAME.findall(row["control"])}
    assert named == {control.name for control in CONTROLS}
    assert len(CONTROLS) >= 15


@pytest.mark.parametrize("control", CONTROLS, ids=[c.name for c in CONTROLS])
def test_each_control_breaks_an_existing_file_and_runs_an_existing_test(
        control: Control) -> None:
    for edit in control.edits:
        text = (ROOT / edit.path).read_text()
        assert re.search(edit.pattern, text, flags=re.MULTILINE), (
            f"stale control: {edit.pattern!r} no longer matches {edit.path}")
    for node in control.tests:
        path, _, name = node.partition("::")
        assert (ROOT / path).exists(), node
        assert not name or name in defined_tests(path), node
    re.compile(control.expect)


def test_each_control_proves_a_listed_test() -> None:
    listed = {f"{p}::{n}" for row in ROWS for p, n in NODE.findall(row["proved by"])}
    unlisted = [c.name for c in CONTROLS
                if not any(node in listed or any(item.startswith(node) for item in listed)
                           for node in c.tests)]
    assert unlisted == []


def test_the_documented_count_of_controls_is_the_count() -> None:
    # docs/testing.md says how many controls there are; a control added without it fails here.
    text = (ROOT / "docs" / "testing.md").read_text()
    counts = re.findall(r"(\d+) controls\b", text)
    assert counts == [str(len(CONTROLS))]
