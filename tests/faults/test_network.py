"""The compose topology in network namespaces: segmentation holds, and a blackholed database
gives fast 503s, never a hang, and the service recovers."""

import json
import shutil
import sys
import time
from collections.abc import Iterator

import pytest

from local.twin import Api, Nginx, Postgres
from tests.faults.topology import Topology, in_ns
from tests.support.paths import ROOT
from tests.support.privileges import require_root
from tests.support.servers import make_state_dir

Services = tuple[Postgres, Api, Nginx]


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    require_root("network namespaces")
    state_dir = make_state_dir("netns")
    topo = Topology.from_compose_file(state_dir)
    try:
        topo.create()
        yield topo
    finally:
        topo.destroy()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def services(topology: Topology) -> Iterator[Services]:
    started: list[Postgres | Api | Nginx] = []
    try:
        db, api, nginx = topology.start_services()
        started = [nginx, api, db]
        yield db, api, nginx
    finally:
        for service in started:
            service.stop()


def cafile(topology: Topology) -> str:
    return str(topology.state_dir / "certs" / "fullchain.pem")


def test_segmentation(topology: Topology, services: Services) -> None:
    """Each pair either connects or has no route at all (ENETUNREACH, as between Docker's
    networks): any other failure (a probe that could not run, a refused port) is no proof."""
    db_address = topology.address("db", "db")
    api_address = topology.address("api", "front")
    nginx, host = topology.ns("nginx"), topology.ns("host")
    checks = {
        "nginx -> db:5432": topology.connect_outcome(nginx, db_address, 5432),
        "host -> api:8000": topology.connect_outcome(host, api_address, 8000),
        "host -> db:5432": topology.connect_outcome(host, db_address, 5432),
        "nginx -> api:8000": topology.connect_outcome(nginx, api_address, 8000),
        "api -> db:5432": topology.connect_outcome(topology.ns("api"), db_address, 5432),
        "host -> nginx:8443": topology.connect_outcome(host, topology.published_address, 8443),
    }
    print(f"\nsegmentation: {checks}")
    assert checks == {
        "nginx -> db:5432": "ENETUNREACH",
        "host -> api:8000": "ENETUNREACH",
        "host -> db:5432": "ENETUNREACH",
        "nginx -> api:8000": "connected",
        "api -> db:5432": "connected",
        "host -> nginx:8443": "connected",
    }


def test_a_full_prediction_through_nginx(topology: Topology, services: Services) -> None:
    topology.wait_for(topology.ns("host"), "https", topology.published_address, 8443,
                      "/readyz", timeout=30)
    answer = topology.probe(topology.ns("host"), "predict", topology.published_address, "8443",
                            cafile(topology))
    assert answer["status"] == 200, answer
    db, _, _ = services
    prediction_id = json.loads(answer["body"])["prediction_id"]
    assert db.psql(f"SELECT salary FROM predictions WHERE id = {int(prediction_id)}") == "87000"


def test_blackholed_database_fails_fast_and_recovers(
    topology: Topology, services: Services
) -> None:
    db_ns, host_ns = topology.ns("db"), topology.ns("host")
    rule = ["-p", "tcp", "--dport", "5432", "-j", "DROP"]
    added = in_ns(db_ns, "iptables", "-A", "INPUT", *rule)
    assert added.returncode == 0, added.stderr
    try:
        during = topology.probe(host_ns, "load", topology.published_address, "8443",
                                cafile(topology), "20", timeout=60)["results"]
    finally:
        removed_at = time.monotonic()
        in_ns(db_ns, "iptables", "-D", "INPUT", *rule)
    statuses = [r["status"] for r in during]
    slowest = max(r["elapsed"] for r in during)
    # The app's bound: connect 2 s + statement 2 s; nginx would answer 504 after 15 s.
    print(f"\nblackhole 20 s: {len(during)} requests, statuses {sorted(set(statuses))}, "
          f"slowest {slowest:.2f} s")
    assert set(statuses) == {503}, statuses
    assert slowest < 6

    topology.wait_for(host_ns, "https", topology.published_address, 8443, "/readyz",
                      timeout=15)
    after = topology.probe(host_ns, "predict", topology.published_address, "8443",
                           cafile(topology))
    print(f"recovered {time.monotonic() - removed_at:.2f} s after the rule was removed")
    assert after["status"] == 200, after


def test_the_smoke_script_passes_against_the_topology(
    topology: Topology, services: Services
) -> None:
    """scripts/smoke.py, as the GitHub Actions workflow runs it against Docker, run from the
    topology's host against its published nginx; then a restart of every service."""
    record = topology.state_dir / "smoke.json"
    token = topology.services_env("api").get("API_TOKEN")
    token_env = {"API_TOKEN": token} if token else None  # smoke.py reads it there
    smoke = [sys.executable, str(ROOT / "scripts" / "smoke.py"), "--record", str(record),
             "--address", topology.published_address, "--https-port", "8443",
             "--http-port", "8080", "--cacert", cafile(topology), "--wait", "60"]
    reach = ["--must-reach", topology.connect_command(
                 "nginx", topology.address("api", "front"), 8000),
             "--must-not-reach", topology.connect_command(
                 "nginx", topology.address("db", "db"), 5432)]
    before = in_ns(topology.ns("host"), *smoke, "check", *reach, timeout=180, env=token_env)
    print(f"\nsmoke against the topology:\n{before.stdout}")
    assert before.returncode == 0, before.stdout + before.stderr
    topology.restart(*services)
    after = in_ns(topology.ns("host"), *smoke, "after-restart", timeout=180, env=token_env)
    print(f"after a restart of every service:\n{after.stdout}")
    assert after.returncode == 0, after.stdout + after.stderr
