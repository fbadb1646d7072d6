"""Hot reload: each worker follows the served version without a restart.

A worker LISTENs on a connection of its own (`app.store.async_connection`, on its event loop,
like the prediction log's) for the NOTIFY that `promote` and `rollback` send, and then reads
the served version and swaps its model (`ModelHolder.switch_to`). It also reads the served
version whenever that connection is (re)established, so a notification missed while the
connection was down is caught when it comes back, and every `recheck_s` seconds when idle,
which doubles as a liveness probe of that connection.

Its own connection rather than the prediction log's: the log's is read only while a write is
in flight, and keeping the write path untouched keeps its speed (the benchmark runs with the
listener on).
"""

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from app.store.async_connection import AsyncConnection
from app.store.model_holder import ModelHolder
from app.store.registry import CHANNEL, served_version_sql

log = logging.getLogger(__name__)

APPLICATION_NAME = "social-ads-listener"


class ServedVersionListener:
    def __init__(self, dsn: str, models: ModelHolder, *, timeout: float,
                 recheck_s: float = 10.0) -> None:
        self._connection = AsyncConnection(dsn)
        self._models = models
        self._timeout = timeout
        self._recheck_s = recheck_s
        self._served_version_sql = served_version_sql()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="model-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._connection.close()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await asyncio.wait_for(self._connection.execute(f"LISTEN {CHANNEL}"),
                                       self._timeout)
                await self._check()  # whatever was promoted while we were away
                delay = 0.1
                while True:
                    await self._connection.notifications(self._recheck_s)
                    await self._check()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001  # any failure: reconnect, re-check
                log.warning("served-version listener: %s; reconnecting",
                            error.__class__.__name__)
                self._connection.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _check(self) -> None:
        [served] = await asyncio.wait_for(
            self._connection.fetch_column(self._served_version_sql, ()), self._timeout)
        loaded = self._models.loaded
        if served is not None and (loaded is None or loaded.version != served):
            await run_in_threadpool(self._models.switch_to, served)
