"""Retention and backups on the twin, while it serves: prune is exact and blocks no one; a
dump taken under load restores every prediction acknowledged before it began."""

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.store.partitions import add_months, bound, month_start, partition_name
from local.twin import ROOT, Stack, unlimited
from tests.support.clients import https_client
from tests.support.load import Load
from tests.support.operator import twin_command
from tests.support.servers import make_state_dir, running_twin


@pytest.fixture(scope="module")
def busy() -> Iterator[Stack]:
    with running_twin("data-safety", unlimited()) as twin:
        yield twin


def ids(stack: Stack, where: str, database: str | None = None) -> set[int]:
    out = stack.postgres.psql(f"SELECT id FROM predictions WHERE {where}", database=database)
    return {int(line) for line in out.split()}


def test_prune_deletes_exactly_the_old_rows_while_predict_answers(busy: Stack) -> None:
    with https_client(busy, timeout=30) as client:
        for _ in range(2):  # 12,000 rows: more than two of prune's 5,000-row chunks
            rows = [{"age": 30, "salary": s} for s in range(6_000)]
            assert client.post("/predict/batch", json={"rows": rows}).status_code == 200
    # Back-date most of them (as the owner); the newest 500 stay recent.
    newest = max(ids(busy, "true"))
    busy.postgres.psql("UPDATE predictions SET created_at = now() - interval '40 days'"
                       f" WHERE id <= {newest - 500}")
    old = ids(busy, "created_at < now() - interval '30 days'")
    kept = ids(busy, "created_at >= now() - interval '30 days'")
    assert len(old) >= 11_500

    # As `make local-prune` runs it: the owner's CLI with the twin's env.
    with Load(busy, threads=3) as load:
        time.sleep(0.5)
        output = twin_command(busy, "prune", "--older-than", "30").stdout
        time.sleep(0.5)
    assert output.strip() == f"deleted {len(old)} prediction rows older than 30 days"
    assert ids(busy, "true") == kept | set(load.acknowledged())
    assert load.outcomes and set(load.statuses()) == {200}
    print(f"pruned {len(old)} rows while {len(load.outcomes)} predictions were answered")


def attached(stack: Stack) -> set[str]:
    return set(stack.postgres.psql(
        "SELECT inhrelid::regclass FROM pg_inherits"
        " WHERE inhparent = 'predictions'::regclass").split())


def test_prune_drops_a_whole_month_while_predict_answers(busy: Stack) -> None:
    """Rows moved (as the owner) into the months three and two months ago; the cutoff falls in
    the middle of the later one: the earlier month's partition is detached and dropped while
    /predict answers, the later one loses only its rows before the cutoff."""
    with https_client(busy, timeout=30) as client:
        rows = [{"age": 30, "salary": s} for s in range(6_000)]
        new = client.post("/predict/batch", json={"rows": rows}).json()["prediction_ids"]
    now = datetime.now(UTC)
    gone_month, straddling = (add_months(month_start(now), n) for n in (-3, -2))
    for start in (gone_month, straddling):
        # As the owner, who runs prune (psql itself connects as the superuser).
        busy.postgres.psql(f'SET ROLE "{busy.env["DB_OWNER_USER"]}";'
                           f" CREATE TABLE IF NOT EXISTS {partition_name(start)} PARTITION OF"
                           f" predictions FOR VALUES FROM ({bound(start)})"
                           f" TO ({bound(add_months(start, 1))})")
    thirds = [new[:2_000], new[2_000:4_000], new[4_000:]]
    for ids_, at in zip(thirds, (gone_month + timedelta(days=5), straddling + timedelta(days=5),
                                 straddling + timedelta(days=25)), strict=True):
        busy.postgres.psql(f"UPDATE predictions SET created_at = '{at.isoformat()}'"
                           f" WHERE id BETWEEN {ids_[0]} AND {ids_[-1]}")
    # Outcomes for every tenth row, in every month.
    busy.postgres.psql("INSERT INTO outcomes (prediction_id, purchased, recorded_at)"
                       f" SELECT id, true, now() FROM predictions WHERE id BETWEEN {new[0]}"
                       f" AND {new[-1]} AND id % 10 = 0")
    days = (now - (straddling + timedelta(days=15))).days
    old = ids(busy, f"created_at < now() - interval '{days} days'")
    kept = ids(busy, f"created_at >= now() - interval '{days} days'")
    assert set(thirds[0]) | set(thirds[1]) <= old and not set(thirds[2]) & old
    assert partition_name(gone_month) in attached(busy)

    with Load(busy, threads=3) as load:
        time.sleep(0.5)
        output = twin_command(busy, "prune", "--older-than", str(days)).stdout
        time.sleep(0.5)
    assert output.strip() == f"deleted {len(old)} prediction rows older than {days} days"
    assert partition_name(gone_month) not in attached(busy)
    assert partition_name(straddling) in attached(busy)
    assert busy.postgres.psql(f"SELECT to_regclass('{partition_name(gone_month)}')") == ""
    assert ids(busy, "true") == kept | set(load.acknowledged())
    assert ids(busy, f"id IN (SELECT prediction_id FROM outcomes) AND id BETWEEN {new[0]}"
                     f" AND {new[-1]}") == {i for i in thirds[2] if i % 10 == 0}
    assert load.outcomes and set(load.statuses()) == {200}
    print(f"dropped {partition_name(gone_month)} and pruned {len(old)} rows in all while "
          f"{len(load.outcomes)} predictions were answered")


def table_digest(stack: Stack, table: str, order: str, database: str | None = None) -> str:
    return stack.postgres.psql(
        f"SELECT md5(string_agg(t::text, '|' ORDER BY {order})) FROM {table} t",
        database=database)


def test_backup_under_load_restores_every_prediction_acknowledged_before_it(
    busy: Stack,
) -> None:
    folder = make_state_dir("backup")
    try:
        check_round_trip(busy, folder / "social-ads.dump")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_round_trip(busy: Stack, dump: Path) -> None:
    with Load(busy, threads=3) as load:
        time.sleep(1)
        dump_began = time.monotonic()
        busy.postgres.dump(dump)
        time.sleep(0.5)
    before_dump = set(load.acknowledged(before=dump_began))
    assert len(before_dump) > 50 and set(load.statuses()) == {200}

    # An empty database the owner owns, as db/init leaves a new volume's.
    busy.postgres.psql(f'CREATE DATABASE restored OWNER "{busy.env["DB_OWNER_USER"]}"',
                       database="postgres")
    busy.postgres.restore(dump, database="restored")
    restored = ids(busy, "true", database="restored")
    assert before_dump <= restored, f"missing: {sorted(before_dump - restored)[:10]}"
    for table, order in (("dataset_rows", "user_id"), ("model_versions", "version"),
                         ("serving", "id")):
        assert table_digest(busy, table, order, "restored") == table_digest(busy, table, order)
    # A second restore into the now full database is refused, not merged.
    with pytest.raises(Exception, match="not empty"):
        busy.postgres.restore(dump, database="restored")
    print(f"{len(before_dump)} predictions acknowledged before the dump began, all restored; "
          f"{len(load.acknowledged()) - len(before_dump)} more answered during and after it")


def make(target: str, stack: Stack, database: str,
         **variables: str) -> subprocess.CompletedProcess[str]:
    """A Makefile recipe meant for compose, with `docker compose exec -T db` run here instead,
    in the db container's environment pointed at the twin's PostgreSQL."""
    env = {
        "PATH": f"{stack.postgres.bin_dir}:/usr/bin:/bin",
        "DB_OWNER_USER": stack.env["DB_OWNER_USER"],
        "DB_OWNER_PASSWORD": stack.env["DB_OWNER_PASSWORD"],
        "POSTGRES_DB": database, "PGPORT": str(stack.postgres.port),
    }
    arguments = [f"{name}={value}" for name, value in variables.items()]
    return subprocess.run(
        ["make", "-s", target, f"COMPOSE=sh {ROOT / 'tests/support/fake_compose.sh'}",
         *arguments], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def test_the_compose_recipes_back_up_and_restore_the_same_rows(busy: Stack) -> None:
    database = busy.env["POSTGRES_DB"]
    made = make("backup", busy, database)
    assert made.returncode == 0, made.stderr
    name = made.stdout.strip().removeprefix("wrote ")
    assert re.fullmatch(r"backups/social-ads-\d{8}T\d{6}Z\.dump", name), made.stdout
    dump = ROOT / name
    try:
        busy.postgres.psql('CREATE DATABASE from_compose_recipe'
                           f' OWNER "{busy.env["DB_OWNER_USER"]}"', database="postgres")
        restored = make("restore", busy, "from_compose_recipe", FILE=str(dump))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        for table, order in (("dataset_rows", "user_id"), ("model_versions", "version")):
            assert (table_digest(busy, table, order, "from_compose_recipe")
                    == table_digest(busy, table, order))
        again = make("restore", busy, "from_compose_recipe", FILE=str(dump))
        assert again.returncode != 0 and "not empty" in again.stdout
    finally:
        dump.unlink(missing_ok=True)
