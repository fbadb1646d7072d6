"""What the twin reads from docker-compose.yml and the Dockerfiles, so it cannot drift from
them: which env files each service gets, and the commands the images run."""

from __future__ import annotations

import json
import re
import secrets
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
PLACEHOLDER = "changeme"


@cache
def compose_file() -> dict[str, Any]:
    import yaml  # here, not at the top: `make env` runs on a bare python3 (no virtualenv)

    parsed: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return parsed


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose_file()["services"][name]
    return found


def env_files(name: str) -> list[str]:
    files: list[str] = service(name).get("env_file", [])
    return files


def command(name: str) -> list[str]:
    """The service's `command`, or else its image's CMD (exec form) from the Dockerfile."""
    if "command" in service(name):
        return list(service(name)["command"])
    dockerfile = ROOT / service(name)["build"] / "Dockerfile"
    [cmd] = re.findall(r"^CMD (\[.*\])$", dockerfile.read_text(), flags=re.MULTILINE)
    parsed: list[str] = json.loads(cmd)
    return parsed


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as compose's env_file reads them (no quotes, no expansion)."""
    return read_env_text(path.read_text())


def read_env_text(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def all_env_files() -> list[str]:
    """.env, .env_db, ...: one per `.example` file (a unit test checks compose names these)."""
    return sorted(path.name.removesuffix(".example") for path in ROOT.glob(".env*.example"))


def move_keys_here(env_dir: Path, name: str, text: str) -> str:
    """`text` (env file `name`, being made from its example) with the values of its keys that
    an older layout kept in another env file, moved out of that file: API_TOKEN was in .env
    before .env_api held it, and the migrate service, which reads .env, must not hold it. The
    token is kept, so its clients keep working."""
    wanted = set(read_env_text(text))
    for other in all_env_files():
        path = env_dir / other
        if other == name or not path.exists():
            continue
        belongs = set(read_env_file(ROOT / f"{other}.example"))
        lines = path.read_text().splitlines(keepends=True)
        kept = []
        for line in lines:
            key, _, value = (part.strip() for part in line.partition("="))
            if key in wanted and key not in belongs:  # a comment's "key" is never wanted
                text = "".join(f"{key}={value}\n" if read_env_text(mine).keys() == {key}
                               else mine for mine in text.splitlines(keepends=True))
                print(f"moved {key} from {path} to {env_dir / name}")
            else:
                kept.append(line)
        if kept != lines:
            path.write_text("".join(kept))
    return text


def ensure_env_files(env_dir: Path) -> None:
    """First run: every env file compose names, from its example, each placeholder a
    generated secret (or the value an older layout kept in another file)."""
    for name in all_env_files():
        target = env_dir / name
        if target.exists():
            continue
        text = move_keys_here(env_dir, name, (ROOT / f"{name}.example").read_text())
        while PLACEHOLDER in text:
            text = text.replace(PLACEHOLDER, secrets.token_urlsafe(24), 1)
        target.write_text(text)
        target.chmod(0o600)
        print(f"created {target} with generated secrets")


def service_env(name: str, env_dir: Path, overrides: dict[str, str]) -> dict[str, str]:
    """What compose's env_file gives service `name` (the files created on first use), plus
    the overrides that differ between compose and where these processes run."""
    ensure_env_files(env_dir)
    merged: dict[str, str] = {}
    for file in env_files(name):
        merged.update(read_env_file(env_dir / file))
    return {**merged, **overrides}
