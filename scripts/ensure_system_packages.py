#!/usr/bin/env python3
"""Installs the Debian packages a make command needs, and only those that are missing.

    python3 scripts/ensure_system_packages.py venv local test

reads the named sections of system-packages.txt and probes each package (a command, a file, a
Python module). Nothing missing: it exits at once, without calling the package manager.
Something missing: as root it runs `apt-get update` once and one `apt-get install`; as another
user it does the same through `sudo -n` when sudo needs no password; otherwise, or on a system
without apt-get, it prints the command to run and exits 1.

Standard library only: it runs before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_LIST = ROOT / "system-packages.txt"
# Non-root users often lack the sbin folders on PATH, where nginx, ip and runuser live.
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


@dataclass(frozen=True)
class Package:
    name: str
    probes: tuple[str, ...]


def read_package_list(path: Path = PACKAGE_LIST) -> dict[str, list[Package]]:
    """The sections of the list, each a list of packages with their probes."""
    sections: dict[str, list[Package]] = {}
    current: list[Package] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), [])
            continue
        name, *probes = line.split()
        if current is None or not probes:
            raise ValueError(f"{path}:{number}: expected 'PACKAGE PROBE...' inside a [section]")
        current.append(Package(name, tuple(probes)))
    return sections


def search_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN])


def probe_passes(probe: str) -> bool:
    if probe.startswith("python:"):
        return importlib.util.find_spec(probe.removeprefix("python:")) is not None
    if probe.startswith("/"):
        return bool(glob.glob(probe))
    return shutil.which(probe, path=search_path()) is not None


def missing(packages: list[Package]) -> list[str]:
    names = [p.name for p in packages if not all(probe_passes(probe) for probe in p.probes)]
    return list(dict.fromkeys(names))


def privilege_prefix() -> list[str] | None:
    """Nothing as root, `sudo -n` when it works without a password, else None."""
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True,
                               check=False).returncode == 0:
        return [sudo, "-n"]
    return None


def apt_commands(names: list[str], prefix: list[str]) -> list[list[str]]:
    # The lists may be empty on a fresh machine (as in Debian's images): update once first.
    return [
        [*prefix, "apt-get", "update", "-q"],
        [*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
         "--no-install-recommends", *names],
    ]


def ensure(sections: list[str], path: Path = PACKAGE_LIST) -> int:
    available = read_package_list(path)
    unknown = [s for s in sections if s not in available]
    if unknown:
        print(f"unknown section(s) {', '.join(unknown)} in {path}", file=sys.stderr)
        return 2
    wanted = [package for section in sections for package in available[section]]
    names = missing(wanted)
    if not names:
        return 0
    print(f"system packages missing ({', '.join(sections)}): {' '.join(names)}")
    if shutil.which("apt-get", path=search_path()) is None:
        print("This is not a Debian or Ubuntu system: install the equivalent packages "
              f"({' '.join(names)}; probes in {path.name}) and run make again.", file=sys.stderr)
        return 1
    prefix = privilege_prefix()
    if prefix is None:
        commands = apt_commands(names, ["sudo"])
        print("Installing them needs root. Run:\n  "
              + " && ".join(shlex.join(c) for c in commands), file=sys.stderr)
        return 1
    for command in apt_commands(names, prefix):
        print(f"+ {shlex.join(command)}", flush=True)
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            return result.returncode
    still = missing(wanted)
    if still:
        print(f"still missing after the install: {' '.join(still)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("sections", nargs="+", help="sections of the list, e.g. venv local")
    parser.add_argument("--list", type=Path, default=PACKAGE_LIST, help="the package list")
    args = parser.parse_args(argv)
    return ensure(args.sections, args.list)


if __name__ == "__main__":
    raise SystemExit(main())
