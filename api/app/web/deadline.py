"""A client-side deadline on the database work of the read routes (the prediction log's COPY
of big batches, app.store.prediction_log, bounds its thread the same way).

A frozen PostgreSQL (SIGSTOP on the postmaster and its backends, a paused VM, a host lost in
swap) keeps its TCP connections up: its kernel acknowledges what we send and answers the
keepalives, so neither tcp_user_timeout nor keepalives ever fire; statement_timeout would be
enforced by the frozen server itself; libpq's blocking read waits in poll(), which no socket
timeout (SO_RCVTIMEO) interrupts; and a cancel request goes to the frozen postmaster too. Only
the client's own clock can give up. So the work runs in a worker thread and the route waits
for it at most `Settings.db_timeout_s` (the connect timeout plus the statement timeout, the
bound a down or blackholed database already has): past that it answers 503 and abandons the
thread. The abandoned thread finishes, and returns its connection to the pool, when the server
answers again (after SIGCONT, or when the connection finally breaks): the service recovers by
itself. At most `db_pool_size` abandoned threads can be stuck on the server at a time; any
other waits at most pool_timeout for a connection and then ends.
"""

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from app.web.services import Services

Result = TypeVar("Result")


class DatabaseDeadlineError(TimeoutError):
    """The database did not answer within the deadline (it is frozen, or far too slow)."""


async def within_deadline(services: Services, work: Callable[[], Result]) -> Result:
    """`work()` (blocking database calls) in a worker thread, waited for at most
    `db_timeout_s`; DatabaseDeadlineError (a 503) past that."""
    try:
        with anyio.fail_after(services.settings.db_timeout_s):
            # abandon_on_cancel: without it the deadline would wait for the thread to finish.
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except TimeoutError:
        raise DatabaseDeadlineError from None
