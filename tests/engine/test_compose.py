"""docker-compose.yml on a real Docker engine (the tier's own, with stand-in base images), in
the order an operator meets it: the README's Docker path, the workflow's smoke test, who may
log in to the database, three replicas, a recreate onto new addresses, the monitoring profile
scraping every replica, a burst under every limit, a crash of each service's main process, a
restart of the whole stack, and last a backup restored into new volumes. The tests share one
deployment and run in this file's order.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import pytest
import yaml

from tests.engine.conftest import ARTIFACTS, MEMORY, ROOT, Stack

WAIT = ("--wait", "--wait-timeout", "240")
T = TypeVar("T")
REPLICAS = 3
SPREAD_REQUESTS = 30
# Under the reads zone's rate (nginx/limits.env: 10 a second), so none is answered 429.
SPREAD_PAUSE_S = 0.12


def readme_docker_block() -> tuple[str, dict[str, Any]]:
    """The README's Docker quick start: its curl command and the answer it shows."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("### With Docker", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    command = re.search(r"^curl .*?(?<!\\)$", block, re.MULTILINE | re.DOTALL)
    answer = re.search(r"^# (\{.*\})$", block, re.MULTILINE)
    assert command and answer, "the README's Docker block lost its curl command or answer"
    return command.group(0).replace("\\\n", " "), json.loads(answer.group(1))


def https(method: str, path: str, body: dict[str, Any] | None = None,
          timeout: float = 10, request_id: str | None = None) -> tuple[int, bytes]:
    """A request to nginx's published HTTPS port on the loopback address."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", 443, timeout=timeout,
                                             context=context)
    try:
        headers = {"Host": "localhost", "Content-Type": "application/json"}
        if request_id is not None:
            headers["X-Request-ID"] = request_id
        connection.request(method, path, json.dumps(body) if body else None, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_healthy(stack: Stack, service: str, count: int, timeout: float = 240) -> list[str]:
    deadline, states = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        containers = stack.containers(service)
        states = [c["State"].get("Health", {}).get("Status", c["State"]["Status"])
                  for c in containers]
        if len(containers) == count and all(state == "healthy" for state in states):
            return [c["Id"] for c in containers]
        time.sleep(2)
    raise AssertionError(f"{service}: {states} after {timeout:.0f} s, expected {count} healthy")


def spread(stack: Stack) -> dict[str, int]:
    """The workflow's check: requests marked by their request id (the app logs no query
    string) through nginx, then how many each api replica's log holds. Every request must be
    answered 200."""
    statuses = []
    marker = f"spread-check-{time.monotonic_ns()}"
    for n in range(SPREAD_REQUESTS):
        statuses.append(https("GET", "/accuracy", request_id=f"{marker}-{n}")[0])
        time.sleep(SPREAD_PAUSE_S)
    assert statuses == [200] * SPREAD_REQUESTS, f"answers through nginx: {statuses}"
    counts = {}
    for container in stack.containers("api"):
        logs = stack.engine.docker("logs", container["Id"])
        counts[container["Name"]] = (logs.stdout + logs.stderr).count(f'"request_id":"{marker}-')
    return counts


def on_our_bridge(stack: Stack, address: str, network: str) -> None:
    """Before any packet goes to a container's address: the route to it must be the bridge of
    this engine's network, so nothing can leave the machine."""
    network_id = stack.engine.docker("network", "inspect", "-f", "{{.Id}}", network).stdout
    route = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True,
                           check=True).stdout
    assert f"dev br-{network_id.strip()[:12]} " in route, f"route to {address}: {route}"


# --- the README's Docker path ------------------------------------------------------------------


def test_readme_docker_path_make_env_make_up_and_its_curl_answer(stack: Stack) -> None:
    stack.run("make", "env")
    for name in (".env", ".env_api", ".env_db", ".env_db_owner", ".env_db_app"):
        assert (stack.project / name).is_file(), f"make env wrote no {name}"
    stack.run("make", "up", timeout=1200)
    for service, count in (("db", 1), ("api", 1), ("nginx", 1)):
        wait_healthy(stack, service, count, timeout=30)
    [migrate] = json.loads(stack.engine.docker(
        "inspect", *stack.compose("ps", "-aq", "migrate").stdout.split()).stdout)
    assert migrate["State"]["ExitCode"] == 0
    command, shown = readme_docker_block()
    answer = stack.run("bash", "-c", command)
    assert json.loads(answer.stdout) == shown, f"{command}\n{answer.stdout}"


def test_the_api_container_holds_no_owner_or_superuser_secret(stack: Stack) -> None:
    names = {line.split("=", 1)[0]
             for line in stack.compose("exec", "-T", "api", "env").stdout.splitlines()}
    assert "APP_DB_PASSWORD" in names  # the app role's: the api needs it
    assert not names & {"POSTGRES_PASSWORD", "DB_OWNER_PASSWORD", "POSTGRES_USER",
                        "DB_OWNER_USER"}


def test_smoke_script_and_segmentation_as_in_the_workflow(stack: Stack) -> None:
    [db] = stack.containers("db")
    db_ip = db["NetworkSettings"]["Networks"]["social-ads_db"]["IPAddress"]
    nc = "docker compose exec -T nginx sh -c {}"
    result = stack.smoke(
        "check",
        "--must-reach", nc.format(shlex.quote("nc -w 3 api 8000 </dev/null")),
        "--must-not-reach", nc.format(shlex.quote(f"nc -w 3 {db_ip} 5432 </dev/null")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout


# --- what the database accepts from the host ---------------------------------------------------


def test_the_host_reaches_the_database_port_but_may_not_log_in(stack: Stack) -> None:
    """README: the host can open a TCP connection to db (Docker gives the host the gateway
    address on every bridge network, internal ones too), but db/pg_hba.conf refuses every
    login from there; the same credentials work from a container on the db network."""
    [network] = json.loads(stack.engine.docker("network", "inspect", "social-ads_db").stdout)
    assert network["Internal"] is True
    [ipam] = network["IPAM"]["Config"]
    subnet, gateway = ipaddress.ip_network(ipam["Subnet"]), ipam["Gateway"]
    [db] = stack.containers("db")
    db_ip = db["NetworkSettings"]["Networks"]["social-ads_db"]["IPAddress"]
    assert ipaddress.ip_address(db_ip) in subnet
    on_our_bridge(stack, db_ip, "social-ads_db")

    with socket.create_connection((db_ip, 5432), timeout=5):
        pass  # the port is reachable from the host: that part of the old claim was false

    owner = stack.env_file(".env_db_owner") | stack.env_file(".env_db_app")
    superuser = stack.env_file(".env_db")
    for user, password in ((owner["DB_OWNER_USER"], owner["DB_OWNER_PASSWORD"]),
                           (owner["APP_DB_USER"], owner["APP_DB_PASSWORD"]),
                           (superuser["POSTGRES_USER"], superuser["POSTGRES_PASSWORD"])):
        with pytest.raises(psycopg2.OperationalError) as refused:
            psycopg2.connect(host=db_ip, port=5432, user=user, password=password,
                             dbname=owner["POSTGRES_DB"], connect_timeout=5).close()
        assert f'pg_hba.conf rejects connection for host "{gateway}"' in str(refused.value)

    login = ("import os, psycopg2; psycopg2.connect(host=os.environ['POSTGRES_HOST'], "
             "user=os.environ['DB_OWNER_USER'], password=os.environ['DB_OWNER_PASSWORD'], "
             "dbname=os.environ['POSTGRES_DB']).close(); print('logged in')")
    inside = stack.compose("run", "--rm", "--no-deps", "migrate", "python", "-c", login)
    assert "logged in" in inside.stdout


# --- replicas -------------------------------------------------------------------------------


def test_scale_to_three_replicas_every_one_answers(stack: Stack) -> None:
    stack.compose("up", "--detach", *WAIT, "--scale", f"api={REPLICAS}")
    wait_healthy(stack, "api", REPLICAS)
    counts = spread(stack)
    assert len(counts) == REPLICAS and all(counts.values()), counts


def test_recreated_replicas_get_new_addresses_and_nginx_follows_without_restart(
        stack: Stack) -> None:
    [nginx] = stack.containers("nginx")
    result = stack.run("python3", "scripts/recreate_api.py", timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "engine-recreate.json").write_text(result.stdout)
    for network, old in report["old"].items():
        assert old and not set(old) & set(report["new"][network]), report
    [after] = stack.containers("nginx")
    for key in ("StartedAt", "Pid"):
        assert after["State"][key] == nginx["State"][key], f"nginx restarted ({key})"
    assert after["RestartCount"] == nginx["RestartCount"]
    counts = spread(stack)
    assert len(counts) == REPLICAS and all(counts.values()), counts


# --- the monitoring profile ----------------------------------------------------------------

MONITORING = ("--profile", "monitoring")
# Published on the host's loopback address only (docker-compose.yml: 127.0.0.1:9090:9090).
PROMETHEUS = ("127.0.0.1", 9090)
# Scrapes every 15 s, DNS refreshed every 30 s, rules evaluated every 15 s
# (monitoring/prometheus.yml): a few rounds of each.
SCRAPE_WAIT_S = 120


def prometheus(path: str, **params: str) -> Any:
    """An answer of Prometheus's HTTP API (its `data`), through the published loopback port."""
    connection = http.client.HTTPConnection(*PROMETHEUS, timeout=10)
    try:
        connection.request("GET", "/api/v1/" + path
                           + ("?" + urllib.parse.urlencode(params) if params else ""))
        body = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    assert body["status"] == "success", body
    return body["data"]


def eventually(probe: Callable[[], tuple[bool, T]], what: str,
               timeout: float = SCRAPE_WAIT_S) -> T:
    """Polls `probe` (done, what it saw) until done; fails with the last thing it saw."""
    deadline = time.monotonic() + timeout
    while True:
        done, seen = probe()
        if done:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} after {timeout:.0f} s: {seen}")
        time.sleep(2)


def rules_in_repository() -> dict[str, list[str]]:
    rules = yaml.safe_load((ROOT / "monitoring" / "rules.yml").read_text())
    return {group["name"]: [rule.get("alert") or rule["record"] for rule in group["rules"]]
            for group in rules["groups"]}


def test_monitoring_profile_scrapes_every_replica_and_loads_every_rule(stack: Stack) -> None:
    """`--profile monitoring` with three replicas: Prometheus (the stand-in for its image, as
    nobody, on the loopback address only) scrapes each replica as a target that is up, has
    loaded every rule of monitoring/rules.yml and evaluates them without error, and a query of
    the app's own gauge answers one series per replica with the version the api serves."""
    stack.compose(*MONITORING, "up", "--detach", *WAIT, "--scale", f"api={REPLICAS}")
    try:
        [container] = json.loads(stack.engine.docker("inspect", *stack.compose(
            *MONITORING, "ps", "-q", "prometheus").stdout.split()).stdout)
        status = Path(f"/proc/{container['State']['Pid']}/status").read_text()
        assert re.search(r"^Uid:\s+65534\s+65534\s+65534\s+65534$", status, re.MULTILINE), status
        assert container["NetworkSettings"]["Ports"]["9090/tcp"] == [
            {"HostIp": "127.0.0.1", "HostPort": "9090"}]
        replicas = {f"{api['NetworkSettings']['Networks']['social-ads_front']['IPAddress']}:8000"
                    for api in stack.containers("api")}
        assert len(replicas) == REPLICAS

        def targets() -> tuple[bool, dict[str, str]]:
            active = prometheus("targets", state="active")["activeTargets"]
            seen = {t["labels"]["instance"]: t["health"] + (f" ({t['lastError']})"
                                                            if t["lastError"] else "")
                    for t in active if t["labels"]["job"] == "api"}
            return seen == dict.fromkeys(replicas, "up"), seen

        eventually(targets, f"api targets, expected {sorted(replicas)} all up")

        def rules() -> tuple[bool, dict[str, list[tuple[str, str, str]]]]:
            groups = prometheus("rules")["groups"]
            seen = {g["name"]: [(r["name"], r["health"], r.get("lastError", ""))
                                for r in g["rules"]] for g in groups}
            return all(health == "ok" for group in seen.values()
                       for _, health, _ in group), seen

        loaded = eventually(rules, "rules, expected every one evaluated ok")
        assert {group: [name for name, _, _ in found] for group, found in loaded.items()} \
            == rules_in_repository()
        assert not any(error for group in loaded.values() for _, _, error in group), loaded
        files = {g["file"] for g in prometheus("rules")["groups"]}
        assert files == {"/etc/prometheus/rules.yml"}, files
        firing = [a["labels"]["alertname"] for a in prometheus("alerts")["alerts"]]
        assert "ApiReplicaDown" not in firing, firing

        version = json.loads(https("GET", "/accuracy")[1])["model_version"]
        series = prometheus("query", query='max by (instance) (served_model_version{job="api"})')
        assert series["resultType"] == "vector"
        assert {s["metric"]["instance"]: float(s["value"][1]) for s in series["result"]} \
            == dict.fromkeys(replicas, float(version)), series
    finally:
        stack.compose(*MONITORING, "rm", "--stop", "--force", "--volumes", "prometheus")
        stack.engine.docker("volume", "rm", "social-ads_prometheus", check=False)


# --- limits -------------------------------------------------------------------------------

BURST_CLIENTS = 16
BURST_REQUESTS = 48
CGROUP = Path("/sys/fs/cgroup")


def cgroup_file(controller: str, container_id: str, name: str) -> Path:
    """A container's cgroup file, cgroup v1 (cgroupfs driver: /CONTROLLER/docker/ID) or v2."""
    for folder in (CGROUP / controller / "docker" / container_id,
                   CGROUP / "docker" / container_id,
                   CGROUP / "system.slice" / f"docker-{container_id}.scope"):
        if (folder / name).exists():
            return folder / name
    raise AssertionError(f"no {name} for {container_id[:12]} under {CGROUP}")


def limit_hits(container_id: str) -> dict[str, int]:
    """How often the container hit its pids_limit (a fork or thread refused) and its mem_limit
    (v1: failcnt; v2: memory.events max and oom), from the kernel's own counters."""
    events = dict(line.split() for line in
                  cgroup_file("pids", container_id, "pids.events").read_text().splitlines())
    hits = {"pids": int(events.get("max", 0))}
    try:
        hits["memory"] = int(cgroup_file("memory", container_id,
                                         "memory.failcnt").read_text())
    except AssertionError:
        memory = dict(line.split() for line in cgroup_file(
            "memory", container_id, "memory.events").read_text().splitlines())
        hits["memory"] = int(memory["max"]) + int(memory["oom"])
    return hits


# A container's memory: its peak since it started (v1; v2 from Linux 5.19), its current use
# (sampled during the burst where the kernel keeps no peak) and its limit, first name found.
MEMORY_PEAK = ("memory.max_usage_in_bytes", "memory.peak")
MEMORY_NOW = ("memory.usage_in_bytes", "memory.current")
MEMORY_LIMIT = ("memory.limit_in_bytes", "memory.max")
MIB = 1024 * 1024


def memory_file(container_id: str, names: tuple[str, ...]) -> Path | None:
    for name in names:
        try:
            return cgroup_file("memory", container_id, name)
        except AssertionError:
            continue
    return None


class MemorySampler:
    """Each container's highest current memory use, read every 0.2 s while it runs: the
    figure where the cgroup keeps no peak of its own."""

    def __init__(self, container_ids: list[str]) -> None:
        self.files = {cid: memory_file(cid, MEMORY_NOW) for cid in container_ids}
        self.highest = dict.fromkeys(container_ids, 0)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.done.wait(0.2):
            for cid, path in self.files.items():
                if path is not None:
                    self.highest[cid] = max(self.highest[cid], int(path.read_text()))

    def __enter__(self) -> MemorySampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


def memory_use(container: dict[str, Any], sampled: int) -> dict[str, float | str]:
    """The container's peak against its limit, in MiB; the limit is the kernel's, checked
    against the mem_limit compose gave the engine."""
    cid = container["Id"]
    limit_file, peak_file = memory_file(cid, MEMORY_LIMIT), memory_file(cid, MEMORY_PEAK)
    assert limit_file is not None, f"no memory limit file for {container['Name']}"
    limit = int(limit_file.read_text())
    assert limit == container["HostConfig"]["Memory"] > 0, (container["Name"], limit)
    peak = max(sampled, int(peak_file.read_text()) if peak_file else 0)
    return {"peak": round(peak / MIB, 1), "limit": limit / MIB,
            "source": peak_file.name if peak_file else f"{MEMORY_NOW[0]} sampled"}


def test_a_burst_of_predictions_stays_under_every_pids_and_memory_limit(stack: Stack) -> None:
    """Concurrent predictions through nginx (within its predict zone's burst): every one
    answered 200, no container's cgroup refused a process or a thread, or memory, and each
    one's memory peak (recorded for docs/engine-tier.md) stayed under its mem_limit."""
    def predict(_: int) -> int:
        return https("POST", "/predict", {"age": 41, "salary": 52000}, timeout=30)[0]

    containers = [c for service in ("nginx", "api", "db") for c in stack.containers(service)]
    with MemorySampler([c["Id"] for c in containers]) as sampler, \
            ThreadPoolExecutor(BURST_CLIENTS) as pool:
        statuses = list(pool.map(predict, range(BURST_REQUESTS)))
    assert statuses.count(200) == BURST_REQUESTS, sorted(set(statuses))
    hits = {c["Name"]: limit_hits(c["Id"]) for c in containers}
    assert all(hit == {"pids": 0, "memory": 0} for hit in hits.values()), hits
    for container in containers:
        use = memory_use(container, sampler.highest[container["Id"]])
        MEMORY[container["Name"].lstrip("/")] = use
        print(f"memory {container['Name']}: {use}")
    assert all(float(use["peak"]) < float(use["limit"]) for use in MEMORY.values()), MEMORY


# --- crashes --------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["db", "api", "nginx"])
def test_kill_9_of_the_main_process_and_the_restart_policy_brings_it_back(
        stack: Stack, service: str) -> None:
    count = REPLICAS if service == "api" else 1
    victim = stack.containers(service)[0]
    os.kill(victim["State"]["Pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        [now] = json.loads(stack.engine.docker("inspect", victim["Id"]).stdout)
        if now["RestartCount"] > victim["RestartCount"]:
            break
        time.sleep(0.5)
    assert now["RestartCount"] == victim["RestartCount"] + 1, now["State"]
    assert now["State"]["Pid"] != victim["State"]["Pid"]
    wait_healthy(stack, service, count)
    deadline, status = time.monotonic() + 60, 0
    while time.monotonic() < deadline and status != 200:
        try:
            status, body = https("POST", "/predict", {"age": 30, "salary": 87000})
        except OSError:
            status = 0
        time.sleep(1)
    assert status == 200, body


# --- the whole stack restarted ---------------------------------------------------------------


def test_data_survives_a_restart_of_the_whole_stack(stack: Stack) -> None:
    # stop + up, as the workflow: up keeps the start order (db healthy, migrate exits 0).
    stack.compose("stop")
    stack.compose("up", "--detach", *WAIT, "--scale", f"api={REPLICAS}")
    result = stack.smoke("after-restart")
    assert result.returncode == 0, result.stdout + result.stderr
    again = stack.smoke("check")
    assert again.returncode == 0, again.stdout + again.stderr


def owner_counts(stack: Stack) -> list[str]:
    """Rows of the log, the versions, the served history and the data set, and the newest
    prediction id: read inside the db container as the owner (its own environment)."""
    sql = ("SELECT (SELECT count(*) FROM predictions), (SELECT coalesce(max(id), 0) FROM "
           "predictions), (SELECT count(*) FROM model_versions), (SELECT count(*) FROM "
           "serving), (SELECT count(*) FROM dataset_rows)")
    script = ('PGPASSWORD="$DB_OWNER_PASSWORD" psql -h 127.0.0.1 -U "$DB_OWNER_USER" '
              f'-d "$POSTGRES_DB" -tAc "{sql}"')
    return stack.compose("exec", "-T", "db", "sh", "-c", script).stdout.strip().split("|")


def test_a_backup_restored_into_new_volumes_keeps_every_row(stack: Stack) -> None:
    """docs/operations.md's recipe, as an operator types it: make backup, make remove (the
    volumes go), the db alone (its init makes the roles), make restore, make up."""
    for age in (23, 37, 58):
        assert https("POST", "/predict", {"age": age, "salary": 61000})[0] == 200
    before = owner_counts(stack)
    stack.run("make", "backup", timeout=300)
    [dump] = sorted((stack.project / "backups").glob("social-ads-*.dump"))
    assert (dump.parent.stat().st_mode & 0o777, dump.stat().st_mode & 0o777) == (0o700, 0o600)
    stack.run("make", "remove", timeout=600)
    assert not stack.engine.docker("volume", "ls", "-q", "--filter",
                                   "name=social-ads_pgdata").stdout.strip()
    stack.compose("up", "--detach", *WAIT, "db")
    stack.run("make", "restore", f"FILE=backups/{dump.name}", timeout=600)
    stack.run("make", "up", timeout=1200)
    assert owner_counts(stack) == before
    result = stack.smoke("after-restart")
    assert result.returncode == 0, result.stdout + result.stderr
