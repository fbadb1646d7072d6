"""Promote and roll back under a steady load through nginx, with two API instances (two
gunicorn workers each): no failed request, every answer's version is its log row's, and every
worker switches within 2 seconds; and each worker publishes its new version at once."""

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from local.twin import Stack, unlimited
from tests.support.load import Load, Outcome
from tests.support.metrics import samples
from tests.support.operator import twin_command
from tests.support.servers import running_twin

REPLICAS = 2
CLIENTS = 4
SWITCH_LIMIT_S = 2.0


@pytest.fixture(scope="module")
def replicas() -> Iterator[Stack]:
    with running_twin("reload", unlimited(), api_replicas=REPLICAS) as twin:
        yield twin


def operator(twin: Stack, *args: str) -> str:
    return twin_command(twin, *args).stdout


def served_at(twin: Stack, action: str) -> float:
    """When the newest `action` row of `serving` was written (the database's clock)."""
    return float(twin.postgres.psql(
        "SELECT extract(epoch FROM served_at) FROM serving "
        f"WHERE action = '{action}' ORDER BY id DESC LIMIT 1"))


def slowest_switch(answers: list[Outcome], since: float, old: int, until: float) -> float:
    """How long after `since` an answer still came from the old version: the slowest
    worker's switch time (requests sent in [since, until))."""
    late = [a.sent_wall - since for a in answers
            if since <= a.sent_wall < until and a.model_version == old]
    return max(late, default=0.0)


def listener_story(twin: Stack, answers: list[Outcome], since: float, old: int,
                   until: float) -> str:
    """Why a switch was slow, for the failure message: each worker's switch and listener
    lines from the app logs, and the late answers (sent in [since, until), served by `old`)."""
    lines = [f"{r}: {line[:300]}" for r in range(1, REPLICAS + 1)
             for line in twin.api.log_file(r).read_text(errors="replace").splitlines()
             if "model version" in line or "listener" in line]
    late = sorted((round(a.sent_wall - since, 3), round(a.answered_at - a.sent_at, 3))
                  for a in answers if since <= a.sent_wall < until and a.model_version == old)
    return (f"database time of the switch {since:.3f}; late answers (sent after it, "
            f"latency) {late[-10:]}; app log lines:\n" + "\n".join(lines[-40:]))


def test_promote_and_rollback_under_load(replicas: Stack) -> None:
    twin = replicas
    expected = REPLICAS * int(twin.api.env.get("WEB_CONCURRENCY", "2"))
    # A replica is ready when one of its workers answers; its other worker may still be
    # connecting its listener, so wait (bounded) for every worker's.
    deadline = time.monotonic() + 15
    while True:
        listeners = int(twin.postgres.psql("SELECT count(*) FROM pg_stat_activity"
                                           " WHERE application_name = 'social-ads-listener'"))
        if listeners == expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert listeners == expected
    assert "version 2 (candidate" in operator(twin, "train", "--features", "age,salary,gender")
    # gender is sent always: the candidate uses it, the workshop's version accepts it.
    with Load(twin, threads=CLIENTS, timeout=10, extra={"gender": "Female"}) as load:
        time.sleep(2)
        operator(twin, "promote", "2")
        time.sleep(4)
        operator(twin, "rollback")
        time.sleep(4)
    answers = load.outcomes
    promoted, rolled_back = served_at(twin, "promote"), served_at(twin, "rollback")
    statuses = {a.status for a in answers}
    print(f"\n{len(answers)} requests through nginx to {REPLICAS} instances, statuses "
          f"{sorted(statuses)}")
    assert statuses == {200}
    to_new = slowest_switch(answers, promoted, 1, rolled_back)
    back = slowest_switch(answers, rolled_back, 2, float("inf"))
    print(f"slowest worker: switched to version 2 {to_new:.3f} s after the promote, back to "
          f"version 1 {back:.3f} s after the rollback")
    assert to_new < SWITCH_LIMIT_S, listener_story(twin, answers, promoted, 1, rolled_back)
    assert back < SWITCH_LIMIT_S, listener_story(twin, answers, rolled_back, 2, float("inf"))
    # Each phase was served by the right version once the switch was done.
    assert {a.model_version for a in answers
            if promoted + SWITCH_LIMIT_S <= a.sent_wall < rolled_back} == {2}
    assert {a.model_version for a in answers
            if a.sent_wall >= rolled_back + SWITCH_LIMIT_S} == {1}
    # Every answer's version is the one its log row carries.
    logged: dict[int, int] = {}
    for line in twin.postgres.psql("SELECT id, model_version FROM predictions").splitlines():
        row_id, version = line.split("|")
        logged[int(row_id)] = int(version)
    mismatched = [a for a in answers if logged.get(a.prediction_id or -1) != a.model_version]
    assert mismatched == []


def switched_workers(twin: Stack, version: int) -> int:
    """How many workers have logged their switch to `version` (the listener's line)."""
    return sum(twin.api.log_file(r).read_text(errors="replace").count(
        f"now serving model version {version}\"") for r in range(1, REPLICAS + 1))


def test_a_scrape_right_after_a_promote_shows_every_workers_new_version(
        replicas: Stack) -> None:
    """No traffic after the promote: the workers switch by their listeners alone, and the
    first scrape of each instance must already show all of its workers at the new version
    (the gauge used to be set by whichever worker answered a scrape)."""
    twin = replicas
    workers = REPLICAS * int(twin.api.env.get("WEB_CONCURRENCY", "2"))
    trained = operator(twin, "train", "--random-state", "7")
    found = re.search(r"version (\d+) \(candidate", trained)
    assert found, trained
    version = int(found.group(1))
    operator(twin, "promote", str(version), "--force")
    deadline = time.monotonic() + 10
    while switched_workers(twin, version) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    assert switched_workers(twin, version) == workers
    published = {}
    for replica, port in enumerate(twin.api.ports(), start=1):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        published[replica] = sorted(
            (dict(labels)["pid"], value) for (name, labels), value in samples(text).items()
            if name == "served_model_version")
    print(f"\nafter promote {version}, one scrape per instance: {published}")
    assert all(len(gauges) == workers // REPLICAS for gauges in published.values()), published
    assert {value for gauges in published.values() for _, value in gauges} == {version}
