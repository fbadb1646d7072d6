#!/usr/bin/env python3
"""Recreates the api replicas on addresses they never had, to prove nginx follows them.

    python3 scripts/recreate_api.py [--service api] [--wait-timeout 240]

Docker hands a freed address to the next container at once, so a plain
`up --force-recreate` usually gives the replicas their old addresses back, and nginx would
seem to follow them without re-resolving anything. Here the old addresses are held while the
replicas are recreated: the replicas are stopped, placeholder containers (the service's image,
running `sleep`, listening on nothing) take addresses until they hold every old one, the
replicas are recreated (`up --force-recreate --no-deps --scale api=N --wait`), the
placeholders are removed. A request nginx sent to an old address would find a placeholder and
be refused. Exit status 0 when every replica's address on every network changed; the old and
new addresses are printed as JSON. The same script for the GitHub workflow and the engine tier
(`docker` and `docker compose` from PATH, the engine from DOCKER_HOST). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from typing import Any

# Each placeholder takes one address per network; holes left by other containers (the one-shot
# migrate's, a replica removed by a scale-down) may be handed out first.
SPARE_PLACEHOLDERS = 8


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def compose(*args: str) -> str:
    return run("docker", "compose", *args)


def inspect(containers: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(run("docker", "inspect", *containers))
    return found


def addresses(containers: list[dict[str, Any]]) -> dict[str, set[str]]:
    """{network name: the containers' IPv4 addresses on it}."""
    found: dict[str, set[str]] = {}
    for container in containers:
        for network, settings in container["NetworkSettings"]["Networks"].items():
            if settings.get("IPAddress"):
                found.setdefault(network, set()).add(settings["IPAddress"])
    return found


def hold(old: dict[str, set[str]], image: str, label: str, limit: int) -> list[str]:
    """Placeholders on every network until they hold every old address (or `limit` of them:
    an engine that does not hand freed addresses out again needs none)."""
    networks = sorted(old)
    placeholders: list[str] = []
    held: dict[str, set[str]] = {network: set() for network in networks}
    while any(not old[n] <= held[n] for n in networks) and len(placeholders) < limit:
        name = f"{label}-{len(placeholders)}"
        run("docker", "run", "--detach", "--name", name, "--label", label,
            "--network", networks[0], "--read-only", "--cap-drop", "ALL",
            "--entrypoint", "sleep", image, "infinity")
        placeholders.append(name)
        for network in networks[1:]:
            run("docker", "network", "connect", network, name)
        for network, found in addresses(inspect([name])).items():
            held.setdefault(network, set()).update(found)
    return placeholders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--service", default="api")
    parser.add_argument("--wait-timeout", default="240")
    args = parser.parse_args(argv)

    before = compose("ps", "-q", args.service).split()
    if not before:
        raise SystemExit(f"no {args.service} container is running")
    containers = inspect(before)
    old = addresses(containers)
    image = containers[0]["Config"]["Image"]
    label = f"recreate-placeholder-{uuid.uuid4().hex[:8]}"
    seconds: dict[str, float] = {}
    started = time.monotonic()
    compose("stop", args.service)
    seconds["stop"] = round(time.monotonic() - started, 1)
    placeholders: list[str] = []
    try:
        placeholders = hold(old, image, label, len(before) + SPARE_PLACEHOLDERS)
        seconds["hold"] = round(time.monotonic() - started - seconds["stop"], 1)
        compose("up", "--detach", "--wait", "--wait-timeout", args.wait_timeout,
                "--force-recreate", "--no-deps", "--scale", f"{args.service}={len(before)}",
                args.service)
        seconds["recreate, until healthy"] = round(time.monotonic() - started - seconds["stop"]
                                                   - seconds["hold"], 1)
    finally:
        if placeholders:
            run("docker", "rm", "--force", *placeholders)
    after = compose("ps", "-q", args.service).split()
    new = addresses(inspect(after))
    reused = {network: sorted(old[network] & new.get(network, set())) for network in old}
    report = {
        "old": {network: sorted(found) for network, found in old.items()},
        "new": {network: sorted(found) for network, found in new.items()},
        "replicas": len(after),
        "placeholders": len(placeholders),
        "seconds": seconds,
        "reused": {network: found for network, found in reused.items() if found},
    }
    print(json.dumps(report, indent=2))
    if len(after) != len(before) or set(before) & set(after):
        print(f"expected {len(before)} new containers, found {after}", file=sys.stderr)
        return 1
    if report["reused"] or set(new) != set(old):
        print("the recreated replicas did not all get new addresses", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
