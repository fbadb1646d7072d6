"""system-packages.txt against the code: every program the twin, the test tiers, the benchmark
and the scripts they run call is probed by some package of the list; the installer calls the
package manager only for what is missing.

The programs are read from the code itself (Python's syntax tree, the shell scripts' command
words), so a new `subprocess.run(["tool", ...])` without its package fails here."""

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.ensure_system_packages import read_package_list

ROOT = Path(__file__).resolve().parents[2]
ENSURE = ROOT / "scripts" / "ensure_system_packages.py"
# Not scripts/: the installer's own apt-get and sudo are what installs the list.
PYTHON_FOLDERS = ("local", "tests", "bench", "api/app")
SHELL_FOLDERS = ("api", "db", "nginx", "local", "tests", "bench", "scripts")
# Scripts that run only inside the engine tier's stand-in images, whose packages are listed in
# tests/engine/standins.py (mmdebstrap), not on this machine.
IMAGE_ONLY = ROOT / "tests" / "engine" / "standins"
# Programs the virtualenv provides (python, gunicorn, hadolint, sslyze...): requirements' job.
VENV_BIN = Path(sys.executable).parent
SHELL_BUILTINS = frozenset({
    "cd", "set", "exec", "echo", "exit", "umask", "test", "[", ":", "export", ".", "printf",
    "read", "trap", "true", "false", "shift", "return", "local", "if", "then", "else", "elif",
    "fi", "for", "do", "done", "while", "until", "case", "esac",
})
# What takes a command list: subprocess's functions and the code's own wrappers of them.
RUNNERS = frozenset({"run", "Popen", "check_output", "check_call", "call", "first_line"})
WORD = re.compile(r"^[A-Za-z][\w.+-]*$")


# --- what the Python code runs -----------------------------------------------------------------


def command_word(node: ast.expr) -> str | None:
    """The program in a command's first position: "nginx", bin_dir / "psql", str(BIN / "x")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str" \
            and node.args:
        return command_word(node.args[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return command_word(node.right)
    return None


def first_word(literal: ast.List) -> str | None:
    """A command list's program: its first element that is not `*prefix` (netns, runuser)."""
    for element in literal.elts:
        if not isinstance(element, ast.Starred):
            return command_word(element)
    return None


def loop_constants(tree: ast.AST) -> dict[str, list[str]]:
    """`for tool in ("ip", "iptables")`: the strings a loop variable takes."""
    values: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.comprehension) and isinstance(node.target, ast.Name) \
                and isinstance(node.iter, ast.Tuple | ast.List):
            words = [w for w in map(command_word, node.iter.elts) if w]
            values.setdefault(node.target.id, []).extend(words)
    return values


def callee(call: ast.Call) -> str | None:
    """The called function's own name: `run` for subprocess.run, `which` for shutil.which."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else None


def command_list(node: ast.AST) -> ast.expr | None:
    """A command list given to a runner (subprocess.run, Popen, helpers), returned as a prefix
    (["runuser", "-u", "postgres", "--"]) or kept in a `command` variable."""
    if isinstance(node, ast.Call) and node.args and callee(node) in RUNNERS:
        return node.args[0]
    if isinstance(node, ast.Return):
        return node.value
    if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and ("command" in t.id or "cmd" in t.id)
            for t in node.targets):
        return node.value
    return None


def python_programs(tree: ast.AST) -> Iterator[str]:
    loops = loop_constants(tree)
    for node in ast.walk(tree):
        # shutil.which("nginx"), which(tool) over a literal tuple
        if isinstance(node, ast.Call) and node.args and callee(node) == "which":
            argument = node.args[0]
            if isinstance(argument, ast.Name):
                yield from loops.get(argument.id, [])
            elif (word := command_word(argument)) is not None:
                yield word
        # Lists only: a tuple there is pytest's parameter names, not a command.
        candidate = command_list(node)
        if isinstance(candidate, ast.List) and (word := first_word(candidate)):
            yield word
        # a server binary from a bin folder: self.bin_dir / "initdb", called with *args
        # (not a virtualenv's: ROOT / ".venv-tools" / "bin" / "checkov" is pip's to install)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) \
                and "bin" in (folder := ast.unparse(node.left).lower()) and "venv" not in folder \
                and (word := command_word(node.right)) is not None:
            yield word


# --- what the shell scripts run ------------------------------------------------------------------


def shell_commands(text: str) -> Iterator[str]:
    """The command words of a plain POSIX script: first word of each simple command."""
    heredoc_end: str | None = None
    logical = ""
    for line in text.splitlines():
        if heredoc_end is not None:
            heredoc_end = None if line.strip() == heredoc_end else heredoc_end
            continue
        if line.lstrip().startswith("#"):
            continue
        if (heredoc := re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)) is not None:
            heredoc_end = heredoc[1]
        logical += line
        if logical.endswith("\\"):
            logical = logical[:-1] + " "
            continue
        for segment in re.split(r"&&|\|\||[;|]|\$\(|`", logical):
            words = [w.strip("\"'") for w in segment.split()]
            while words and (words[0] in {"exec", "if", "then", "else", "elif", "do", "while",
                                          "until", "!", "{", "("} or "=" in words[0]):
                words.pop(0)
            if words and WORD.match(words[0]):
                yield words[0]
        logical = ""


# --- the checks -----------------------------------------------------------------------------------


def our_files(folder: str, pattern: str) -> Iterator[Path]:
    """The project's files, not the npm packages the browser tier installs beside them."""
    return (path for path in (ROOT / folder).rglob(pattern) if "node_modules" not in path.parts)


def called_programs() -> dict[str, set[str]]:
    """Each program the code calls, with the files that call it."""
    found: dict[str, set[str]] = {}
    for folder in PYTHON_FOLDERS:
        for path in our_files(folder, "*.py"):
            for word in python_programs(ast.parse(path.read_text(), str(path))):
                found.setdefault(Path(word).name, set()).add(str(path.relative_to(ROOT)))
    for folder in SHELL_FOLDERS:
        for path in our_files(folder, "*.sh"):
            if path.is_relative_to(IMAGE_ONLY):
                continue
            for word in shell_commands(path.read_text()):
                found.setdefault(word, set()).add(str(path.relative_to(ROOT)))
    return {
        name: files for name, files in found.items()
        if WORD.match(name) and name not in SHELL_BUILTINS and not (VENV_BIN / name).exists()
    }


def probed_programs() -> set[str]:
    return {
        Path(probe).name
        for packages in read_package_list().values() for package in packages
        for probe in package.probes if not probe.startswith("python:")
    }


def test_the_collector_sees_the_known_calls() -> None:
    """Guards the collector itself: programs we know the code runs must be found."""
    called = called_programs()
    for program in ("nginx", "initdb", "pg_ctl", "psql", "openssl", "runuser", "ip",
                    "iptables", "chromium", "wrk", "sh"):
        assert program in called, program


def test_every_called_program_is_in_the_package_list() -> None:
    probed = probed_programs()
    uncovered = {name: sorted(files) for name, files in called_programs().items()
                 if name not in probed}
    assert uncovered == {}, "add their Debian packages to system-packages.txt"


def test_every_section_the_makefile_asks_for_exists() -> None:
    asked = {
        section
        for line in (ROOT / "Makefile").read_text().splitlines()
        if "$(ENSURE_PACKAGES)" in line and ":=" not in line
        for section in line.split("$(ENSURE_PACKAGES)", 1)[1].split()
    }
    assert asked >= {"base", "local", "test"}
    assert asked <= set(read_package_list())


def test_ci_keeps_no_package_list_of_its_own() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get" not in ci
    assert "make test" in ci


# --- the installer, with a package manager that only records its calls ----------------------------


def run_installer(tmp_path: Path, package_list: str) -> tuple[subprocess.CompletedProcess[str],
                                                               list[str]]:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    calls = tmp_path / "calls"
    for tool, code in (("apt-get", 0), ("sudo", 1)):  # sudo fails: never a real install
        script = fake_bin / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\nexit {code}\n')
        script.chmod(0o755)
    listing = tmp_path / "packages.txt"
    listing.write_text(package_list)
    result = subprocess.run(
        [sys.executable, str(ENSURE), "--list", str(listing), "needed"],
        env={**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"},
        capture_output=True, text=True, check=False,
    )
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_nothing_missing_means_no_package_manager(tmp_path: Path) -> None:
    result, calls = run_installer(
        tmp_path, "[needed]\nshell sh\nfile /etc/hostname\npython python:json\n")
    assert (result.returncode, calls, result.stdout) == (0, [], "")


def test_a_missing_package_is_installed_once(tmp_path: Path) -> None:
    result, calls = run_installer(
        tmp_path, "[needed]\nshell sh\nabsent-pkg /nonexistent/tool other-tool-that-is-not-here\n")
    if os.geteuid() == 0:
        assert calls == [
            "apt-get update -q",
            "apt-get install -y -q --no-install-recommends absent-pkg",
        ]
        # The fake installed nothing: the probe still fails, and the run says so.
        assert result.returncode == 1
        assert "still missing after the install: absent-pkg" in result.stderr
    else:  # no root and no working `sudo -n`: the exact command, and a stop
        assert calls == ["sudo -n true"]
        assert result.returncode == 1
        assert "sudo apt-get update -q && sudo env DEBIAN_FRONTEND=noninteractive apt-get " \
               "install -y -q --no-install-recommends absent-pkg" in result.stderr


@pytest.mark.parametrize(("text", "expected"), [
    ("set -eu\ncd \"$(dirname \"$0\")\"\npython -m app\nexec gunicorn -c x",
     ["set", "cd", "dirname", "python", "gunicorn"]),
    ("psql -v X <<'SQL'\nCREATE ROLE x;\nSQL\nA=1 openssl req \\\n  -x509 && chmod 644 f",
     ["psql", "openssl", "chmod"]),
])
def test_shell_command_words(text: str, expected: list[str]) -> None:
    assert list(shell_commands(text)) == expected
