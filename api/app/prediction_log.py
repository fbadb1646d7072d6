"""The prediction log: no answer leaves before its row is committed.

One INSERT+COMMIT per request would make the WAL flush the bottleneck. Instead a writer thread
takes every request waiting at that moment, writes all their rows in ONE transaction and
resolves each request's future only after COMMIT returns (PostgreSQL group commit, done by the
client). A request whose wait runs out gets a 503 and is never acknowledged, even if its row
lands later; nothing is ever retried, so nothing is written twice.
"""

import asyncio
import concurrent.futures
import logging
import queue
import threading
from dataclasses import dataclass, field

from psycopg2.extras import execute_values
from sqlalchemy import Engine

log = logging.getLogger(__name__)


class LogUnavailableError(RuntimeError):
    """The log could not commit the rows; the request must not be acknowledged."""


@dataclass(frozen=True)
class LogRow:
    age: float
    salary: float
    purchased: bool
    probability: float
    model_version: int


@dataclass
class _Pending:
    rows: list[LogRow]
    future: concurrent.futures.Future[list[int]] = field(default_factory=concurrent.futures.Future)


class PredictionLog:
    def __init__(self, engine: Engine, *, max_batch_rows: int, max_waiting: int) -> None:
        self._engine = engine
        self._max_batch_rows = max_batch_rows
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._waiting = threading.BoundedSemaphore(max_waiting)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then end the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    async def write(self, rows: list[LogRow], timeout: float) -> list[int]:
        """The ids of the committed rows, in order; raises LogUnavailableError otherwise."""
        if not self._waiting.acquire(blocking=False):
            raise LogUnavailableError("too many predictions are waiting for the database")
        pending = _Pending(rows)
        self._queue.put(pending)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(pending.future), timeout)
        except TimeoutError:
            raise LogUnavailableError("the database did not confirm the write in time") from None
        finally:
            self._waiting.release()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch, stopping = self._take_waiting(first)
            # A request that already timed out is cancelled: its rows are not written at all.
            batch = [p for p in batch if p.future.set_running_or_notify_cancel()]
            if batch:
                self._commit(batch)

    def _take_waiting(self, first: _Pending) -> tuple[list[_Pending], bool]:
        batch, n_rows = [first], len(first.rows)
        while n_rows < self._max_batch_rows:
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                break
            if pending is None:
                return batch, True
            batch.append(pending)
            n_rows += len(pending.rows)
        return batch, False

    def _commit(self, batch: list[_Pending]) -> None:
        rows = [row for pending in batch for row in pending.rows]
        try:
            ids = self._insert(rows)
        except Exception as error:  # noqa: BLE001  # any failure means: not committed, say 503
            log.warning("prediction log write failed: %s", error.__class__.__name__)
            for pending in batch:
                pending.future.set_exception(LogUnavailableError("the database is unavailable"))
            return
        start = 0
        for pending in batch:
            pending.future.set_result(ids[start : start + len(pending.rows)])
            start += len(pending.rows)

    def _insert(self, rows: list[LogRow]) -> list[int]:
        with self._engine.begin() as connection:
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            # Ids are drawn first so that each request gets exactly its own rows' ids
            # (the order of RETURNING is not guaranteed by PostgreSQL).
            cursor.execute(
                "SELECT nextval('predictions_id_seq') FROM generate_series(1, %s)", (len(rows),)
            )
            ids = [row_id for (row_id,) in cursor.fetchall()]
            execute_values(
                cursor,
                "INSERT INTO predictions"
                " (id, age, salary, purchased, probability, model_version) VALUES %s",
                [
                    (row_id, r.age, r.salary, r.purchased, r.probability, r.model_version)
                    for row_id, r in zip(ids, rows, strict=True)
                ],
                page_size=len(rows),
            )
        return ids
