"""The async PostgreSQL driver of a web worker: psycopg2's asynchronous mode, driven by the
worker's event loop (no thread, so no hand-offs or GIL contention on the hot path). Used by
the prediction log's writer and the served-version listener, each on a connection of its own.
In this mode every statement runs in its own transaction (autocommit).

Once connected, the loop watches a connection's socket for reading until the connection
closes, rather than adding and removing the watch around every wait: two epoll_ctl calls and
a handle less per statement on the log writer's hot path (docs/benchmarks.md, issue 19). That
holds on uvloop, which the workers run: it reads the socket's readiness once per reply. The
default asyncio loop reports a reply's socket readable once more, on the turn after the
reply arrived, before the waiting task has read it; that late call finds nobody waiting and
stops the watch (so there, as before, a statement adds and removes it), or wakes the next
wait early, which polls, finds nothing, and waits again. Waits are written for that: a wake
is a hint, the poll decides. One coroutine at a time uses a connection."""

import asyncio
import contextlib
from collections.abc import Iterator
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watched_fd: int | None = None  # the socket the loop watches for reading
        self._reader: asyncio.Future[None] | None = None  # the wait for it to be readable
        self._writer: asyncio.Future[None] | None = None  # the wait for it to be writable
        self._expired = False  # the current statement's deadline passed

    def _on_readable(self) -> None:
        reader = self._reader
        if reader is None:
            # Nobody waits: the server spoke unasked (an error before it closes the
            # connection), or, on asyncio's default loop, a reply already read. The loop would
            # call back on every turn while bytes sit unread: stop watching; the next
            # statement watches again, polls, and fails if the connection broke.
            self._unwatch()
        elif not reader.done():
            reader.set_result(None)

    def _unwatch(self) -> None:
        if self._watched_fd is not None and self._loop is not None:
            self._loop.remove_reader(self._watched_fd)
        self._watched_fd = None

    async def _readable(self, connecting: bool = False) -> None:
        """Until the socket may have something to read (or the statement's deadline passes).
        While connecting, libpq may close its socket and open another under the same number
        (a retry without SSL, another host): the watch is then made afresh for every wait."""
        loop = asyncio.get_running_loop()
        fd = self._connection.fileno()
        if connecting or self._watched_fd != fd or self._loop is not loop:
            self._unwatch()
            loop.add_reader(fd, self._on_readable)
            self._loop, self._watched_fd = loop, fd
        assert self._reader is None, "one coroutine at a time uses a connection"
        self._reader = loop.create_future()
        try:
            await self._reader
        finally:
            self._reader = None

    async def _wait(self, connecting: bool = False) -> None:
        connection = self._connection
        while True:
            if self._expired:
                raise TimeoutError("the database did not answer in time")
            state = connection.poll()
            if state == psycopg2.extensions.POLL_OK:
                return
            if state == psycopg2.extensions.POLL_READ:
                await self._readable(connecting)
                continue
            loop = asyncio.get_running_loop()
            self._writer = writable = loop.create_future()
            fd = connection.fileno()
            loop.add_writer(fd, _resolve, writable)
            try:
                await writable
            finally:
                loop.remove_writer(fd)
                self._writer = None

    def _expire(self) -> None:
        self._expired = True
        for waiter in (self._reader, self._writer):
            if waiter is not None and not waiter.done():
                waiter.set_exception(TimeoutError("the database did not answer in time"))

    @contextlib.contextmanager
    def _deadline(self, timeout: float | None) -> Iterator[None]:
        # One loop timer, cheaper than asyncio.wait_for (a task per statement): it fails the
        # wait in progress, and _wait refuses to start another.
        self._expired = False
        timer = None if timeout is None else asyncio.get_running_loop().call_later(
            timeout, self._expire)
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
            self._expired = False

    @contextlib.contextmanager
    def _unwatched_on_error(self) -> Iterator[None]:
        # libpq closes a broken connection's socket itself, and its number may soon name
        # another socket this loop watches: drop the watch at once, before anything else runs.
        try:
            yield
        except BaseException:
            self._unwatch()
            raise

    async def _cursor(self) -> Any:
        if self._connection is None:
            self._connection = psycopg2.connect(self._dsn, async_=True)
            await self._wait(connecting=True)
            for statement in self._setup:
                cursor = self._connection.cursor()  # held: polling needs it alive
                cursor.execute(statement)
                await self._wait()
        return self._connection.cursor()

    async def fetch_column(self, sql: str, parameters: tuple[Any, ...],
                           timeout: float | None = None) -> list[Any]:
        """The first column of the statement's rows; raises TimeoutError after `timeout`
        seconds (connecting included), and the connection must then be closed."""
        with self._deadline(timeout), self._unwatched_on_error():
            cursor = await self._cursor()
            cursor.execute(sql, parameters)
            await self._wait()
            return [value for (value,) in cursor.fetchall()]

    async def execute(self, sql: str) -> None:
        with self._unwatched_on_error():
            cursor = await self._cursor()
            cursor.execute(sql)
            await self._wait()

    async def notifications(self, timeout: float) -> list[str]:
        """The payloads of the NOTIFYs received within `timeout` seconds (after LISTEN); an
        empty list if none came. Raises if the connection broke meanwhile."""
        connection = self._connection
        if connection is None:
            raise psycopg2.InterfaceError("not connected")
        deadline = asyncio.get_running_loop().time() + timeout
        while not connection.notifies:  # a wake is a hint (the module's docstring says why)
            with self._unwatched_on_error():
                try:
                    await asyncio.wait_for(self._readable(),
                                           deadline - asyncio.get_running_loop().time())
                except TimeoutError:
                    return []
                await self._wait()  # reads what arrived (an EOF raises here)
        payloads = [notify.payload for notify in connection.notifies]
        connection.notifies.clear()
        return payloads

    def close(self) -> None:
        self._unwatch()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
