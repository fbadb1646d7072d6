"""The prediction log's writer on a real PostgreSQL: requests that arrive together are written
as one group (one statement, one commit), each row with its own request's id, the ids in
request order; a request alone takes the one-request form of the statement."""

import asyncio
from typing import Any

from sqlalchemy import Engine, text

from app.core.database import app_dsn
from app.core.request_id import current_request_id
from app.store.prediction_log import LogRows, PredictionLog
from tests.support.servers import Database


def rows(ages: list[float]) -> LogRows:
    return LogRows(inputs={"age": ages, "salary": [1000.0] * len(ages)},
                   purchased=[False] * len(ages), probabilities=[0.25] * len(ages),
                   model_version=1)


async def write_as(log: PredictionLog, request_id: str | None, ages: list[float]) -> list[int]:
    current_request_id.set(request_id)  # this task's own context, as the middleware sets it
    return await log.write(rows(ages))


def stored(engine: Engine, ids: list[int]) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            text("SELECT id, age, request_id FROM predictions WHERE id = ANY(:ids) ORDER BY id"),
            {"ids": ids})]


async def write_groups(database: Database) -> tuple[list[list[int]], list[int], list[int]]:
    commits: list[int] = []
    log = PredictionLog(app_dsn(database.settings()), max_batch_rows=20_000, max_waiting=100,
                        timeout=5, on_commit=lambda _v, n, _p, _s: commits.append(n))
    log.start()
    try:
        # Started together: all three are queued before the writer wakes, so one group.
        together = await asyncio.gather(
            write_as(log, "request-a", [31.0]),
            write_as(log, "request-b", [32.0, 33.0, 34.0]),
            write_as(log, None, [35.0, 36.0]))
        alone = await write_as(log, "request-d", [37.0, 38.0])
        return list(together), alone, commits
    finally:
        await log.stop()


def test_a_group_keeps_each_requests_id_and_order(prepared_database: Database,
                                                  owner_engine: Engine) -> None:
    together, alone, commits = asyncio.run(write_groups(prepared_database))
    assert commits == [6, 2]  # one commit for the three requests, one for the lone one
    a, b, c = together
    assert len(a) == 1 and len(b) == 3 and len(c) == 2
    assert a + b + c == sorted(a + b + c)  # ids in request order
    assert stored(owner_engine, a + b + c) == [
        (a[0], 31.0, "request-a"),
        (b[0], 32.0, "request-b"), (b[1], 33.0, "request-b"), (b[2], 34.0, "request-b"),
        (c[0], 35.0, None), (c[1], 36.0, None)]
    assert stored(owner_engine, alone) == [(alone[0], 37.0, "request-d"),
                                           (alone[1], 38.0, "request-d")]
