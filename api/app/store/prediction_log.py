"""The prediction log: no answer leaves before its row is committed.

One INSERT+COMMIT per request would make the WAL flush the bottleneck. Instead each worker
runs one writer task that takes every request waiting at that moment, writes all their rows
with ONE statement and resolves each request only after that statement has committed
(group commit, done by the client). A request whose wait runs out gets a 503 and is never
acknowledged, even if its row lands later; nothing is retried, so nothing is written twice.

The writer talks to PostgreSQL through `app.store.async_connection` (psycopg2's asynchronous
mode) on the worker's event loop: no thread, so no hand-offs or GIL contention on the hot
path. In that mode every statement runs in its own transaction (autocommit), so when the
INSERT returns, it is committed, and with synchronous_commit on, flushed to the WAL on disk.
A batch of BULK_MIN_ROWS rows or more takes another way, COPY (`app.store.bulk_log`): in the
worker's thread pool, one at a time per worker, in a transaction of its own that is rolled
back rather than committed once its request's time is up.

Each group costs a round trip, a plan-free EXECUTE of the prepared INSERT and a WAL flush,
whatever its size. Groups form by themselves under load: while one commits, the next
requests queue, and the writer takes them all as soon as it is free, after letting the
requests this worker has already received join (a few turns of the event loop, no timer).
It never waits for a group to fill: a 1 ms wait gave fewer, larger commits but cost more
throughput than it saved once the request path was lean (docs/benchmarks.md, issue 19).
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import orjson
from sqlalchemy import Engine

from app.core.request_id import current_request_id
from app.domain.features import FEATURES, FeatureSet
from app.store.async_connection import AsyncConnection
from app.store.bulk_log import BULK_MIN_ROWS, copy_rows
from app.store.log_sql import (
    ARRAY_WRITERS,
    bool_array,
    execute_sql,
    float_array,
    id_array,
    index_array,
    prepare_sql,
)

log = logging.getLogger(__name__)

# Turns of the event loop a group may wait for requests already received (each turn runs
# them; the writer stops at the first turn in which nobody joined). A bound, so that a
# stream of requests can never hold a group back for long.
JOIN_TURNS = 4

# Called after each committed group: (model version, rows, rows purchased, seconds).
CommitObserver = Callable[[int, int, int, float], None]


class LogUnavailableError(RuntimeError):
    """The log could not commit the rows; the request must not be acknowledged."""


@dataclass
class LogRows:
    """The rows of one request, column by column (cheap to build for a 10,000-row batch)."""

    # Each input's values by feature name (None where a row did not give it); an input that
    # no row gave is left out.
    inputs: dict[str, list[Any]]
    purchased: list[bool]
    probabilities: list[float]
    model_version: int

    def __len__(self) -> int:
        return len(self.purchased)


class _Pending:
    """One request's rows, waiting for their commit."""

    __slots__ = ("abandoned", "future", "request_id", "rows")

    def __init__(self, rows: LogRows, request_id: str | None,
                 future: "asyncio.Future[list[int]]") -> None:
        self.rows = rows
        self.request_id = request_id
        self.future = future
        self.abandoned = False  # its request already answered 503: do not write it

    def expire(self) -> None:
        """The request's time is up: it answers 503, and its rows are not written unless the
        writer has already sent them (they may then land, never acknowledged)."""
        if not self.future.done():
            self.abandoned = True
            self.future.set_exception(
                LogUnavailableError("the database did not confirm the write in time"))


class PredictionLog:
    def __init__(self, dsn: str, *, max_batch_rows: int, max_waiting: int,
                 timeout: float, features: FeatureSet = FEATURES,
                 on_commit: CommitObserver | None = None,
                 on_failure: Callable[[], None] | None = None,
                 bulk_engine: Engine | None = None) -> None:
        # Batches of BULK_MIN_ROWS or more go by COPY on a connection of this pool (bulk_log),
        # one at a time per worker: the read routes keep the rest of the pool and the threads.
        self._bulk_engine = bulk_engine
        self._bulk_turn = asyncio.Lock()
        self._connection = AsyncConnection(dsn, setup=(
            prepare_sql(features), prepare_sql(features, one_request=True)))
        self._features = features
        self._group_sql = execute_sql(features)
        self._one_request_sql = execute_sql(features, one_request=True)
        self._on_commit = on_commit
        self._on_failure = on_failure
        self._max_batch_rows = max_batch_rows
        self._max_waiting = max_waiting
        self._timeout = timeout
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="prediction-log")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._connection.close()

    async def write(self, rows: LogRows) -> list[int]:
        """The ids of the committed rows, in order; raises LogUnavailableError otherwise."""
        if self._bulk_engine is not None and len(rows) >= BULK_MIN_ROWS:
            return await self._write_bulk(rows)
        if self._queue.qsize() >= self._max_waiting:
            raise LogUnavailableError("too many predictions are waiting for the database")
        # The request's own id (set by the middleware in this task's context), stored with
        # its rows so an answer can be followed from nginx's log to the app's log to the row.
        loop = asyncio.get_running_loop()
        pending = _Pending(rows, current_request_id.get(), loop.create_future())
        self._queue.put_nowait(pending)
        # One plain timer that fails only this request's future (the writer skips done ones).
        # Cheaper than asyncio.timeout, which must track and cancel the task (docs/benchmarks.md).
        timer = loop.call_later(self._timeout, pending.expire)
        try:
            return await pending.future
        finally:
            timer.cancel()
            if pending.future.cancelled():  # the client went away: never write its rows
                pending.abandoned = True

    async def _write_bulk(self, rows: LogRows) -> list[int]:
        started = time.perf_counter()
        # A thread cannot be stopped: at the deadline the request answers 503 and the thread
        # is left to finish, but it rolls back instead of committing once the deadline passed.
        deadline = time.monotonic() + self._timeout
        try:
            async with asyncio.timeout(self._timeout), self._bulk_turn:
                ids = await anyio.to_thread.run_sync(
                    self._copy, rows, current_request_id.get(), deadline,
                    abandon_on_cancel=True)
        except Exception as error:  # noqa: BLE001  # any failure means not committed: 503
            log.warning("prediction log bulk write failed: %s", error.__class__.__name__)
            if self._on_failure is not None:
                self._on_failure()
            raise LogUnavailableError("database unavailable") from None
        if self._on_commit is not None:
            self._on_commit(rows.model_version, len(ids), sum(rows.purchased),
                            time.perf_counter() - started)
        return ids

    def _copy(self, rows: LogRows, request_id: str | None, deadline: float) -> list[int]:
        assert self._bulk_engine is not None
        connection = self._bulk_engine.raw_connection()
        try:
            return copy_rows(connection.driver_connection, rows, request_id, self._features,
                             deadline)
        except BaseException:
            connection.invalidate()  # a failed COPY leaves nothing worth reusing
            raise
        finally:
            connection.close()  # back to the pool

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            try:
                await self._let_received_requests_join()
                n_rows = len(batch[0].rows)
                while n_rows < self._max_batch_rows and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    n_rows += len(batch[-1].rows)
                batch = [p for p in batch if not p.abandoned]
                if batch:
                    await self._commit(batch)
            except asyncio.CancelledError:
                # Stopped with a group in hand: its requests get their 503 now rather than
                # at their deadline (rows already sent may land, never acknowledged).
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(LogUnavailableError("the log stopped"))
                        pending.future.exception()  # retrieved: no "never retrieved" warning
                raise

    async def _let_received_requests_join(self) -> None:
        """Requests this worker has already received join the group before it is sent.

        The writer wakes on the first request of a group, often before requests whose bytes
        came in the same turn of the event loop have run at all (about one per group under
        `make bench`'s load). Each turn of the loop here lets them reach the queue (and
        polls the sockets, so a request that has just arrived may join too); the writer
        stops at the first turn in which nobody joined, so it never waits for the network
        or a timer, and meanwhile the core runs those requests. Fewer, larger groups: less
        CPU per prediction, most of it PostgreSQL's (docs/benchmarks.md, issue 19's seventh
        sitting, has the figures)."""
        for _ in range(JOIN_TURNS):
            waiting = self._queue.qsize()
            await asyncio.sleep(0)
            if self._queue.qsize() == waiting:
                return

    async def _commit(self, batch: list[_Pending]) -> None:
        # A worker serves one model version, so this is one group and one statement in practice.
        for version in dict.fromkeys(p.rows.model_version for p in batch):
            group = [p for p in batch if p.rows.model_version == version]
            started = time.perf_counter()
            try:
                ids = await self._insert(version, group)  # fails after self._timeout
            except Exception as error:  # noqa: BLE001  # any failure means not committed: 503
                log.warning("prediction log write failed: %s", error.__class__.__name__)
                if self._on_failure is not None:
                    self._on_failure()
                self._connection.close()  # a fresh connection for the next batch
                for pending in group:
                    if not pending.future.done():
                        pending.future.set_exception(LogUnavailableError("database unavailable"))
                        pending.future.exception()  # retrieved: no "never retrieved" warning
                continue
            if self._on_commit is not None:
                purchased = sum(sum(p.rows.purchased) for p in group)  # C loops, not Python
                self._on_commit(version, len(ids), purchased, time.perf_counter() - started)
            start = 0
            for pending in group:
                if not pending.future.done():
                    pending.future.set_result(ids[start : start + len(pending.rows)])
                start += len(pending.rows)

    async def _insert(self, version: int, group: list[_Pending]) -> list[int]:
        one_request = len(group) == 1
        request_ids = group[0].request_id if one_request else id_array(
            [p.request_id for p in group])
        parameters: list[Any] = [version, request_ids]
        for feature in self._features:
            if all(feature.name not in p.rows.inputs for p in group):
                parameters.append(None)
                continue
            values: list[Any] = []
            for pending in group:
                values.extend(pending.rows.inputs.get(feature.name) or [None] * len(pending.rows))
            parameters.append(ARRAY_WRITERS[feature.kind](values))
        parameters.append(bool_array([v for p in group for v in p.rows.purchased]))
        parameters.append(float_array([v for p in group for v in p.rows.probabilities]))
        if not one_request:
            parameters.append(index_array([len(p.rows) for p in group]))
        sql = self._one_request_sql if one_request else self._group_sql
        [ids] = await self._connection.fetch_column(sql, tuple(parameters), self._timeout)
        # '{1,2,3}' read as the JSON array [1,2,3]: a tenth of the time of int() per id.
        parsed: list[int] = orjson.loads("[" + ids[1:-1] + "]")
        return parsed
