"""Every start-up failure names the setting and the reason, never a value: the API (gunicorn
started as the twin starts it) and the operator commands, each with real-looking 32-character
secrets in its environment, whose whole output must hold no piece of any of them.

pydantic's own message shows `input_value=`: for a missing field or a model-wide check, every
setting it read, secrets included (truncated to their last characters, which are still
secret)."""

import secrets
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from local.twin import compose, free_port, service_env
from local.twin.migrate import venv_path
from local.twin.processes import base_environment
from tests.support.paths import API
from tests.support.servers import Database

Env = dict[str, str]
SECRET_NAMES = ("APP_DB_PASSWORD", "API_TOKEN", "DB_OWNER_PASSWORD", "POSTGRES_PASSWORD")


def with_secrets(env: Env) -> tuple[Env, dict[str, str]]:
    """`env` with a fresh real-looking 32-character value for each secret it holds (and an
    API token always)."""
    fresh = {name: secrets.token_urlsafe(24) for name in SECRET_NAMES
             if name in env or name == "API_TOKEN"}
    assert all(len(value) == 32 for value in fresh.values())
    return {**env, **fresh}, fresh


def setting(name: str, value: str | None) -> Callable[[Env], Env]:
    def change(env: Env) -> Env:
        changed = {k: v for k, v in env.items() if k != name}
        return changed if value is None else {**changed, name: value}
    return change


# (what is wrong, how, what the output must name)
COMMON_FAILURES = [
    ("placeholder app password", setting("APP_DB_PASSWORD", "changeme"),
     "APP_DB_PASSWORD is a placeholder"),
    ("placeholder token", setting("API_TOKEN", "changeme"), "API_TOKEN is a placeholder"),
    ("missing app password", setting("APP_DB_PASSWORD", None), "APP_DB_PASSWORD: Field required"),
    ("bad number", setting("DB_POOL_SIZE", "four"), "DB_POOL_SIZE: Input should be"),
    ("number out of range", setting("DB_STATEMENT_TIMEOUT_MS", "5"), "DB_STATEMENT_TIMEOUT_MS"),
    ("bad port", setting("POSTGRES_PORT", "99999"), "POSTGRES_PORT"),
    ("bad choice", setting("APP_ENV", "staging"), "APP_ENV"),
    ("bad role name", setting("APP_DB_USER", "App-User"), "APP_DB_USER"),
]
API_FAILURES = [
    *COMMON_FAILURES,
    ("bad worker count", setting("WEB_CONCURRENCY", "many"), "WEB_CONCURRENCY"),
]
OPERATOR_FAILURES = [
    *COMMON_FAILURES,
    ("placeholder owner password", setting("DB_OWNER_PASSWORD", "changeme"),
     "DB_OWNER_PASSWORD is a placeholder"),
    ("missing owner password", setting("DB_OWNER_PASSWORD", None), "DB_OWNER_PASSWORD is not set"),
]


def leaked(output: str, fresh: dict[str, str]) -> list[str]:
    """Every secret one of whose 8-character pieces (its tail, its head, anything) appears."""
    return [name for name, value in fresh.items()
            if any(value[i:i + 8] in output for i in range(len(value) - 7))]


def start_api(env: Env) -> "subprocess.CompletedProcess[str]":
    """The api service's command (the image's CMD), as the twin runs it; it must exit."""
    return subprocess.run(
        compose.command("api"),
        env={**base_environment(), **env, "PATH": venv_path(),
             "API_BIND": f"127.0.0.1:{free_port()}"},
        cwd=API, capture_output=True, text=True, timeout=120, check=False)


def run_operator(env: Env) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "app", "versions"], env=env, cwd=API,
                          capture_output=True, text=True, timeout=120, check=False)


def check(case: str, result: "subprocess.CompletedProcess[str]", named: str,
          fresh: dict[str, str]) -> list[str]:
    output = result.stdout + result.stderr
    problems = []
    if result.returncode == 0:
        problems.append(f"{case}: exit 0")
    if named not in output:
        problems.append(f"{case}: {named!r} not in the output:\n{output[-3000:]}")
    problems += [f"{case}: a piece of {name} in the output:\n{output[-3000:]}"
                 for name in leaked(output, fresh)]
    return problems


def test_the_api_start_up_failures_print_names_and_reasons_only(database: Database) -> None:
    base = service_env("api", database.state_dir, {
        "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(database.server.port)})

    def attempt(case: tuple[str, Callable[[Env], Env], str]) -> list[str]:
        name, change, named = case
        env, fresh = with_secrets(base)
        return check(f"api, {name}", start_api(change(env)), named, fresh)

    with ThreadPoolExecutor(3) as pool:
        problems = [p for found in pool.map(attempt, API_FAILURES) for p in found]
    print(f"\napi: {len(API_FAILURES)} start-up failures, {len(problems)} problems")
    assert problems == []


def test_the_operator_start_up_failures_print_names_and_reasons_only(
        database: Database) -> None:
    def attempt(case: tuple[str, Callable[[Env], Env], str]) -> list[str]:
        name, change, named = case
        env, fresh = with_secrets({**base_environment(), **database.env})
        return check(f"operator, {name}", run_operator(change(env)), named, fresh)

    with ThreadPoolExecutor(3) as pool:
        problems = [p for found in pool.map(attempt, OPERATOR_FAILURES) for p in found]
    print(f"\noperator: {len(OPERATOR_FAILURES)} start-up failures, {len(problems)} problems")
    assert problems == []


@pytest.mark.parametrize("who", ["DB_OWNER_PASSWORD", "DB_OWNER_USER"])
def test_a_wrong_owner_credential_is_refused_by_the_server_without_echoing_it(
        database: Database, who: str) -> None:
    """Valid settings the real server refuses: its message, not our secrets."""
    env, fresh = with_secrets({**base_environment(), **database.env})
    if who == "DB_OWNER_USER":
        env[who] = "nobody_here"
    result = run_operator(env)
    problems = check(f"operator, wrong {who}", result, "password authentication failed",
                     fresh)
    assert problems == []
    assert "Traceback" not in result.stdout + result.stderr
