"""deploy/swarm/stack.yml, checked without a swarm: the Compose Specification's schema, and the
same images, env names, networks, limits, healthchecks and credentials split as
docker-compose.yml."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.twin import compose as twin_compose
from tests.support.paths import ROOT

BIN = Path(sys.executable).parent
STACK = ROOT / "deploy" / "swarm" / "stack.yml"
# Each Swarm secret is one of compose's env files.
SECRET_FILES = {"env": ".env", "env_api": ".env_api", "env_db": ".env_db",
                "env_db_owner": ".env_db_owner", "env_db_app": ".env_db_app"}
# The stack's image names carry the registry in front of compose's.
REGISTRY = re.compile(r"^\$\{REGISTRY:\?[^}]*\}/")


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(STACK.read_text())
    return parsed


def test_the_stack_file_matches_the_compose_spec() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(STACK)],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_same_services_images_and_networks(stack: dict[str, Any],
                                               compose: dict[str, Any]) -> None:
    services, theirs = stack["services"], compose["services"]
    assert set(services) == {n for n, s in theirs.items() if "profiles" not in s}
    for name, service in services.items():
        assert REGISTRY.sub("", service["image"]) == theirs[name]["image"], name
        assert sorted(service["networks"]) == sorted(theirs[name]["networks"]), name
        # What Swarm ignores or refuses is not there to mislead.
        for key in ("build", "restart", "mem_limit", "pids_limit", "security_opt",
                    "depends_on", "tmpfs", "shm_size", "pull_policy", "container_name"):
            assert key not in service, (name, key)
    assert stack["networks"]["db"]["internal"] is True
    assert all(n["driver"] == "overlay" for n in stack["networks"].values())
    assert set(stack["networks"]) == set(compose["networks"])
    assert set(stack["volumes"]) == set(compose["volumes"]) - {"prometheus"}


def test_limits_healthchecks_and_hardening_match_compose(stack: dict[str, Any],
                                                         compose: dict[str, Any]) -> None:
    for name, service in stack["services"].items():
        theirs = compose["services"][name]
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] == theirs["mem_limit"], name
        assert limits["pids"] == theirs["pids_limit"], name
        assert service["healthcheck"] == theirs["healthcheck"], name
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert service.get("user") == theirs.get("user"), name
        # compose's tmpfs folders, as Swarm's tmpfs mounts (no uid option: mode 1777).
        tmpfs = {v["target"] for v in service["volumes"] if isinstance(v, dict)
                 and v["type"] == "tmpfs"}
        wanted = {entry.split(":")[0] for entry in theirs["tmpfs"]}
        if "shm_size" in theirs:
            wanted.add("/dev/shm")
        assert tmpfs == wanted, name


def test_the_swarm_specific_keys(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert services["migrate"]["deploy"]["mode"] == "replicated-job"
    assert services["api"]["deploy"]["replicas"] >= 2
    assert services["api"]["deploy"]["endpoint_mode"] == "dnsrr"
    assert services["api"]["deploy"]["update_config"]["order"] == "start-first"
    assert services["db"]["deploy"]["replicas"] == 1
    assert services["db"]["deploy"]["placement"]["constraints"] == [
        "node.labels.social-ads.db == true"]
    assert services["nginx"]["deploy"]["mode"] == "global"
    assert [(p["target"], p["published"], p["mode"]) for p in services["nginx"]["ports"]] == [
        (8080, 80, "host"), (8443, 443, "host")]


def test_commands_and_env_names_match_compose(stack: dict[str, Any],
                                              compose: dict[str, Any]) -> None:
    services, theirs = stack["services"], compose["services"]
    assert services["migrate"]["command"] == theirs["migrate"]["command"]
    assert services["api"]["command"] == twin_compose.command("api")
    assert services["db"]["command"] == ["docker-entrypoint.sh", "postgres"]
    assert services["nginx"]["environment"] == theirs["nginx"]["environment"]
    assert services["nginx"]["env_file"] == [f"../../{f}" for f in theirs["nginx"]["env_file"]]
    assert services["db"]["environment"] == theirs["db"]["environment"]
    assert "environment" not in services["api"] and "environment" not in services["migrate"]


def test_the_credentials_split_matches_compose(stack: dict[str, Any],
                                               compose: dict[str, Any]) -> None:
    assert {name: spec["file"] for name, spec in stack["secrets"].items()} == {
        name: f"../../{file}" for name, file in SECRET_FILES.items()}
    for name, service in stack["services"].items():
        theirs = compose["services"][name]
        secret_envs = [f for f in theirs.get("env_file", []) if f.startswith(".env")]
        granted = [SECRET_FILES[s["source"]] for s in service.get("secrets", [])]
        assert granted == secret_envs, name
        for secret in service.get("secrets", []):
            # Readable by the service's own user only.
            uid = {"db": "999"}.get(name, "10001")
            assert (secret["uid"], secret["mode"]) == (uid, 0o400), name
    assert stack["configs"]["db_init"]["file"] == "../../db/init/10-roles.sh"


def test_the_entrypoint_exports_the_secret_files_as_compose_env_file_does(
        stack: dict[str, Any], tmp_path: Path) -> None:
    """The shell the services run before their command, run here on the example env files in
    place of /run/secrets: it exports exactly what compose's env_file gives."""
    entrypoint = stack["services"]["api"]["entrypoint"]
    assert all(stack["services"][n]["entrypoint"] == entrypoint
               for n in ("migrate", "api", "db"))
    assert entrypoint[:2] == ["sh", "-c"] and entrypoint[3] == "sh"
    script = entrypoint[2].replace("$$", "$").replace("/run/secrets", str(tmp_path))
    for secret in ("env", "env_api", "env_db_app"):
        (tmp_path / secret).write_text((ROOT / f"{SECRET_FILES[secret]}.example").read_text())
    result = subprocess.run(
        ["sh", "-c", script, "sh", sys.executable, "-c",
         "import json, os; print(json.dumps(dict(os.environ)))"],
        capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]})
    exported = yaml.safe_load(result.stdout)
    expected = (twin_compose.read_env_file(ROOT / ".env.example")
                | twin_compose.read_env_file(ROOT / ".env_api.example")
                | twin_compose.read_env_file(ROOT / ".env_db_app.example"))
    assert {k: exported[k] for k in expected} == expected
