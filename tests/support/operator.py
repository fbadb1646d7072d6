"""Operator commands (`python -m app ...`) as the database owner, with their exit status
checked: against the twin (as `docker compose run --rm migrate` runs them) or against a
database on the integration tier's server."""

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from local.twin import Stack
from tests.support.paths import API

if TYPE_CHECKING:
    from tests.support.servers import Database


def _checked(result: "subprocess.CompletedProcess[str]", args: tuple[str, ...],
             expect: int) -> "subprocess.CompletedProcess[str]":
    assert result.returncode == expect, (
        f"python -m app {' '.join(args)}: exit {result.returncode}, expected {expect}\n"
        f"{result.stdout}{result.stderr}")
    return result


def twin_command(twin: Stack, *args: str, expect: int = 0, timeout: float = 120
                 ) -> "subprocess.CompletedProcess[str]":
    """`python -m app ARGS` with the twin's migrate environment; fails unless it exits
    `expect`."""
    result = twin.migrate.operator("python", "-m", "app", *args, capture=True, timeout=timeout)
    return _checked(result, args, expect)


def database_command(server: "Database", database: str, *args: str, expect: int = 0
                     ) -> "subprocess.CompletedProcess[str]":
    """`python -m app ARGS` as the owner against `database` on the test server; fails unless
    it exits `expect`."""
    env = {**os.environ, **server.env, "POSTGRES_DB": database}
    result = subprocess.run([sys.executable, "-m", "app", *args], env=env, cwd=API,
                            capture_output=True, text=True, check=False, timeout=120)
    return _checked(result, args, expect)
