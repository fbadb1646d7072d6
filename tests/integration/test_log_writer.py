"""The prediction log's writer on a real PostgreSQL: requests that arrive together are written
as one group (one statement, one commit), requests already received when the writer wakes
join that group, each row with its own request's id, the ids in
request order; a request alone takes the one-request form of the statement; a big batch goes
by COPY (app.store.bulk_log), in its binary or its text format, and is stored exactly as the
group writer would store it."""

import asyncio
import time
from typing import Any

import pytest
import uvloop
from sqlalchemy import Engine, create_engine, text

from app.core.database import app_dsn, make_engine
from app.core.request_id import current_request_id
from app.domain.features import FEATURES
from app.store import bulk_log
from app.store.bulk_log import BULK_MIN_ROWS, DeadlinePassedError, copy_rows
from app.store.prediction_log import LogRows, LogUnavailableError, PredictionLog
from tests.support.servers import Database

LOGGED = ("SELECT id, age, salary, gender, purchased, probability, model_version, request_id"
          " FROM predictions WHERE id = ANY(:ids) ORDER BY id")


def rows_of(ages: list[float]) -> LogRows:
    return LogRows(inputs={"age": ages, "salary": [1000.0] * len(ages)},
                   purchased=[False] * len(ages), probabilities=[0.25] * len(ages),
                   model_version=1)


def awkward_rows(n: int) -> LogRows:
    """Floats whose text is easy to get wrong, a missing optional input, both categories."""
    ages = [[0.1, 1 / 3, 1e-7, 123456.789, 120.0, 0.0][i % 6] + i for i in range(n)]
    genders: list[Any] = [[None, "Female", "Male"][i % 3] for i in range(n)]
    return LogRows(inputs={"age": ages, "salary": [i * 1.1 for i in range(n)],
                           "gender": genders},
                   purchased=[i % 2 == 0 for i in range(n)],
                   probabilities=[(i * 0.618033988749895) % 1 for i in range(n)],
                   model_version=1)


def numeric_rows(n: int) -> LogRows:
    """The same awkward floats, every input a number given by every row: COPY goes binary."""
    awkward = awkward_rows(n)
    return LogRows(inputs={"age": awkward.inputs["age"], "salary": awkward.inputs["salary"]},
                   purchased=awkward.purchased, probabilities=awkward.probabilities,
                   model_version=1)


async def write_as(log: PredictionLog, request_id: str | None, rows: LogRows) -> list[int]:
    current_request_id.set(request_id)  # this task's own context, as the middleware sets it
    return await log.write(rows)


def stored(engine: Engine, ids: list[int]) -> list[tuple[Any, ...]]:
    """The logged rows, floats as their exact bits."""
    with engine.connect() as connection:
        return [tuple(value.hex() if isinstance(value, float) else value for value in row)
                for row in connection.execute(text(LOGGED), {"ids": ids})]


def log_for(database: Database, commits: list[int] | None = None,
            bulk_engine: Engine | None = None) -> PredictionLog:
    return PredictionLog(
        app_dsn(database.settings()), max_batch_rows=20_000, max_waiting=100, timeout=10,
        on_commit=None if commits is None else lambda _v, n, _p, _s: commits.append(n),
        bulk_engine=bulk_engine)


async def write_groups(database: Database) -> tuple[list[list[int]], list[int], list[int]]:
    commits: list[int] = []
    log = log_for(database, commits)
    log.start()
    try:
        # Started together: all three are queued before the writer wakes, so one group.
        together = await asyncio.gather(
            write_as(log, "request-a", rows_of([31.0])),
            write_as(log, "request-b", rows_of([32.0, 33.0, 34.0])),
            write_as(log, None, rows_of([35.0, 36.0])))
        alone = await write_as(log, "request-d", rows_of([37.0, 38.0]))
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
    ages_and_ids = [(row[1], row[-1]) for row in stored(owner_engine, a + b + c)]
    assert ages_and_ids == [
        ((31.0).hex(), "request-a"), ((32.0).hex(), "request-b"), ((33.0).hex(), "request-b"),
        ((34.0).hex(), "request-b"), ((35.0).hex(), None), ((36.0).hex(), None)]
    assert [(row[1], row[-1]) for row in stored(owner_engine, alone)] == [
        ((37.0).hex(), "request-d"), ((38.0).hex(), "request-d")]


async def write_received_after_the_writer_woke(database: Database) -> list[int]:
    commits: list[int] = []
    log = log_for(database, commits)
    log.start()
    try:
        await write_as(log, "warm-up", rows_of([30.0]))  # connected and prepared
        commits.clear()
        first = asyncio.ensure_future(write_as(log, "request-a", rows_of([31.0])))
        await asyncio.sleep(0)  # the first request runs: it queues its row, the writer wakes
        # Two more requests start after that wake-up, as the worker's next read of its
        # sockets would start them: they have not run when the writer does.
        later = [asyncio.ensure_future(write_as(log, f"request-{name}", rows_of([age])))
                 for name, age in (("b", 32.0), ("c", 33.0))]
        await asyncio.gather(first, *later)
        return commits
    finally:
        await log.stop()


def test_requests_received_while_the_writer_wakes_join_its_group(
        prepared_database: Database) -> None:
    commits = asyncio.run(write_received_after_the_writer_woke(prepared_database))
    assert commits == [3], f"groups of {commits} rows: the requests received later did not join"


async def stop_with_a_group_in_hand(database: Database) -> BaseException | None:
    log = log_for(database)
    log.start()
    await write_as(log, "warm-up", rows_of([30.0]))  # connected and prepared
    waiting = asyncio.ensure_future(write_as(log, "request-a", rows_of([31.0])))
    await asyncio.sleep(0)  # the request queues its row; the writer wakes
    await asyncio.sleep(0)  # the writer takes it and lets the loop turn for others to join
    await log.stop()
    await asyncio.gather(waiting, return_exceptions=True)
    return waiting.exception()


def test_a_request_in_the_writers_hands_when_it_stops_is_refused_at_once(
        prepared_database: Database) -> None:
    """Not left to wait for its deadline (10 s here): it is told the log stopped."""
    error = asyncio.run(stop_with_a_group_in_hand(prepared_database))
    assert isinstance(error, LogUnavailableError) and "stopped" in str(error), error


def forms_of(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The forms COPY takes from now on ("binary" or "text"), one per batch."""
    forms: list[str] = []
    binary, text_form = bulk_log.binary_copy_data, bulk_log.copy_data

    def binary_spy(*args: Any) -> Any:
        data = binary(*args)
        if data is not None:
            forms.append("binary")
        return data

    def text_spy(*args: Any) -> Any:
        forms.append("text")
        return text_form(*args)

    monkeypatch.setattr(bulk_log, "binary_copy_data", binary_spy)
    monkeypatch.setattr(bulk_log, "copy_data", text_spy)
    return forms


async def write_both_ways(database: Database, rows: LogRows, request_id: str | None
                          ) -> tuple[list[int], list[int], list[int]]:
    commits: list[int] = []
    engine = make_engine(database.settings())
    group, bulk = log_for(database), log_for(database, commits, bulk_engine=engine)
    group.start()
    bulk.start()
    try:
        return (await write_as(group, request_id, rows),
                await write_as(bulk, request_id, rows), commits)
    finally:
        await group.stop()
        await bulk.stop()
        engine.dispose()


@pytest.mark.parametrize(("n", "binary", "request_id"), [
    (BULK_MIN_ROWS, False, "request-g"), (10_000, False, "request-g"),
    (10_000, True, "request-g"), (BULK_MIN_ROWS, True, None)],
    ids=["text-2000", "text-10000", "binary-10000", "binary-no-request-id"])
def test_a_big_batch_by_copy_is_stored_as_the_group_writer_stores_it(
        prepared_database: Database, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch,
        n: int, binary: bool, request_id: str | None) -> None:
    rows = numeric_rows(n) if binary else awkward_rows(n)
    forms = forms_of(monkeypatch)
    by_insert, by_copy, commits = asyncio.run(
        write_both_ways(prepared_database, rows, request_id))
    # The form COPY took: binary when every input is a number in every row, else text.
    expected = "binary" if binary else "text"
    assert forms == [expected], f"COPY took the {forms} form, not the {expected} one"
    assert commits == [n]  # the COPY path's one commit, observed like the group writer's
    assert len(by_copy) == n and by_copy == sorted(by_copy)  # ids in request order
    inserted, copied = stored(owner_engine, by_insert), stored(owner_engine, by_copy)
    assert [row[1:] for row in copied] == [row[1:] for row in inserted]
    assert [row[0] for row in copied] == by_copy
    assert {row[3] for row in copied} == ({None} if binary else {None, "Female", "Male"})
    assert {row[-1] for row in copied} == {request_id}


async def write_to_nowhere(database: Database) -> list[int]:
    failures: list[int] = []
    settings = database.settings()
    nowhere = settings.database_url().set(port=1)  # nothing listens on port 1
    engine = create_engine(nowhere)
    log = PredictionLog(app_dsn(settings), max_batch_rows=20_000, max_waiting=10, timeout=5,
                        on_failure=lambda: failures.append(1), bulk_engine=engine)
    log.start()
    try:
        with pytest.raises(LogUnavailableError):
            await write_as(log, "request-x", awkward_rows(BULK_MIN_ROWS))
        return failures
    finally:
        await log.stop()
        engine.dispose()


def test_a_big_batch_the_database_cannot_take_is_refused_and_counted(
        prepared_database: Database) -> None:
    assert asyncio.run(write_to_nowhere(prepared_database)) == [1]


@pytest.mark.parametrize(("seconds_left", "when"), [(-1.0, "began"), (0.002, "commit")],
                         ids=["before-the-write", "before-commit"])
def test_a_big_batch_past_its_deadline_is_rolled_back(
        prepared_database: Database, owner_engine: Engine, seconds_left: float,
        when: str) -> None:
    """Its request has answered 503: a retry must not find its rows stored twice."""
    request_id = f"late-{int(seconds_left * 1000) % 10_000}-batch"
    engine = make_engine(prepared_database.settings())
    connection = engine.raw_connection()
    try:
        with pytest.raises(DeadlinePassedError, match=when):
            copy_rows(connection.driver_connection, awkward_rows(10_000), request_id, FEATURES,
                      time.monotonic() + seconds_left)
    finally:
        connection.close()
        engine.dispose()
    with owner_engine.connect() as owner:
        stored_rows = owner.execute(text("SELECT count(*) FROM predictions"
                                         " WHERE request_id = :rid"), {"rid": request_id})
        assert stored_rows.scalar() == 0


async def write_across_a_dropped_connection(database: Database, uvloop_in_use: bool
                                            ) -> tuple[float, list[str]]:
    log = PredictionLog(
        app_dsn(database.settings(), application_name="dropped-log-writer"),
        max_batch_rows=100, max_waiting=100, timeout=10)
    log.start()
    try:
        await log.write(rows_of([40.0]))  # connected, prepared, idle
        if uvloop_in_use:  # as in the workers: the idle socket is still watched
            assert log._connection._watched_fd is not None
        terminated = database.server.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'dropped-log-writer'")
        assert terminated.strip() == "t", terminated
        # The server's goodbye makes the idle socket readable. If the loop kept calling back
        # with nobody to read it, this worker would spin.
        cpu_before = time.process_time()
        await asyncio.sleep(1.0)
        idle_cpu = time.process_time() - cpu_before
        outcomes = []
        for age in (41.0, 42.0, 43.0):
            try:
                await log.write(rows_of([age]))
                outcomes.append("stored")
            except LogUnavailableError:
                outcomes.append("503")
        return idle_cpu, outcomes
    finally:
        await log.stop()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_connection_dropped_while_idle_is_replaced_without_spinning(
        prepared_database: Database, loop: str) -> None:
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        idle_cpu, outcomes = runner.run(
            write_across_a_dropped_connection(prepared_database, loop == "uvloop"))
    # A busy loop would use the whole second; an idle one a few milliseconds.
    assert idle_cpu < 0.3, f"{idle_cpu:.2f} s of CPU in 1 s of idling: the loop spun"
    # The first write meets the dead connection (503, never acknowledged); a new connection
    # stores the next ones.
    assert outcomes == ["503", "stored", "stored"], outcomes
