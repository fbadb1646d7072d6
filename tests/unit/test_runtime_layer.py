"""`make local` installs only the API package and requirements-local.txt (make test adds
requirements-dev.txt): every third-party module the twin imports must come from those two."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"local", "app"}


def requirement_names(path: Path) -> set[str]:
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(normalize(re.split(r"[=<>!~\[;\s]", line, maxsplit=1)[0]))
    return names


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(folder: Path) -> set[str]:
    modules: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - FIRST_PARTY - {"__future__"}


def test_the_twin_imports_only_what_make_local_installs() -> None:
    installed = requirement_names(ROOT / "api" / "requirements.txt") \
        | requirement_names(ROOT / "requirements-local.txt")
    distributions = importlib.metadata.packages_distributions()
    missing = {
        module: distributions.get(module, [module])
        for module in imported_modules(ROOT / "local")
        if not any(normalize(d) in installed for d in distributions.get(module, [module]))
    }
    assert missing == {}, "add them to requirements-local.txt (make local installs no dev tools)"
