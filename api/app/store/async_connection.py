"""The async PostgreSQL driver of a web worker: psycopg2's asynchronous mode, driven by the
worker's event loop (no thread, so no hand-offs or GIL contention on the hot path). Used by
the prediction log's writer and the served-version listener, each on a connection of its own.
In this mode every statement runs in its own transaction (autocommit)."""

import asyncio
from typing import Any

import psycopg2
import psycopg2.extensions


def _resolve(future: "asyncio.Future[None]") -> None:
    # A readiness callback can run again before the awaiting task removes it.
    if not future.done():
        future.set_result(None)


class AsyncConnection:
    """A psycopg2 connection in asynchronous mode, driven by the running event loop."""

    def __init__(self, dsn: str, setup: tuple[str, ...] = ()) -> None:
        self._dsn = dsn
        # Statements run on every new connection before its first use (a PREPARE, a LISTEN).
        self._setup = setup
        self._connection: Any = None

    async def _wait(self) -> None:
        loop = asyncio.get_running_loop()
        connection = self._connection
        while True:
            state = connection.poll()
            if state == psycopg2.extensions.POLL_OK:
                return
            ready = loop.create_future()
            fd = connection.fileno()
            if state == psycopg2.extensions.POLL_READ:
                loop.add_reader(fd, _resolve, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(fd)
            else:
                loop.add_writer(fd, _resolve, ready)
                try:
                    await ready
                finally:
                    loop.remove_writer(fd)

    async def _cursor(self) -> Any:
        if self._connection is None:
            self._connection = psycopg2.connect(self._dsn, async_=True)
            await self._wait()
            for statement in self._setup:
                cursor = self._connection.cursor()  # held: polling needs it alive
                cursor.execute(statement)
                await self._wait()
        return self._connection.cursor()

    async def fetch_column(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        cursor = await self._cursor()
        cursor.execute(sql, parameters)
        await self._wait()
        return [value for (value,) in cursor.fetchall()]

    async def execute(self, sql: str) -> None:
        cursor = await self._cursor()
        cursor.execute(sql)
        await self._wait()

    async def notifications(self, timeout: float) -> list[str]:
        """The payloads of the NOTIFYs received within `timeout` seconds (after LISTEN); an
        empty list if none came. Raises if the connection broke meanwhile."""
        connection = self._connection
        if connection is None:
            raise psycopg2.InterfaceError("not connected")
        if not connection.notifies:
            loop = asyncio.get_running_loop()
            ready = loop.create_future()
            fd = connection.fileno()
            loop.add_reader(fd, _resolve, ready)
            try:
                await asyncio.wait_for(ready, timeout)
            except TimeoutError:
                return []
            finally:
                loop.remove_reader(fd)
            await self._wait()  # reads what arrived (an EOF raises here)
        payloads = [notify.payload for notify in connection.notifies]
        connection.notifies.clear()
        return payloads

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
