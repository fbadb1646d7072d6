"""The structure stays readable: short modules, a thin command line, helpers in tests/support."""

from pathlib import Path

import pytest

from tests.support.paths import API, ROOT

APP = API / "app"
MODULE_LINES = 300
CLI_LINES = 160


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("module", python_files(APP), ids=lambda p: str(p.relative_to(APP)))
def test_no_module_is_longer_than_300_lines(module: Path) -> None:
    assert len(module.read_text().splitlines()) <= MODULE_LINES


def test_the_command_line_is_a_thin_table() -> None:
    assert len((APP / "ops" / "cli.py").read_text().splitlines()) <= CLI_LINES


def test_the_layers_are_folders() -> None:
    packages = {p.name for p in APP.iterdir() if (p / "__init__.py").exists()}
    assert {"core", "domain", "store", "web", "ops"} <= packages
    loose = {p.name for p in APP.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert loose == set(), "every module belongs to a layer"


def test_nothing_imports_from_conftest() -> None:
    banned = ("from tests." + "conftest", "import tests." + "conftest")
    offenders = [str(p.relative_to(ROOT)) for p in python_files(ROOT / "tests")
                 if any(text in p.read_text() for text in banned)]
    assert offenders == []
