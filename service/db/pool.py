"""The connection pool, configured for direct connections or transaction-mode poolers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from service.db.connection import Connection
from service.db.runner import configure_connection
from service.settings import Settings

RECONNECT_TIMEOUT_SECONDS = 3.0


class DeadlinePool(AsyncConnectionPool[AsyncConnection[Any]]):
    """A pool whose borrowers give up after a deadline, on the client's side.

    statement_timeout bounds the database's work, but not a wait the
    database never sees: behind a pooler whose server is down, a query
    waits in the pooler's queue. The deadline covers everything done with a
    connection once it is borrowed (the wait for one has the pool's own
    timeout). When it passes, the
    connection's socket is shut down: the statement waiting on it fails at
    once (a 503), where cancelling the task would make psycopg wait for the
    server to confirm a cancellation that cannot reach it. The pool then
    discards the broken connection.
    """

    deadline_seconds: float = 1.5

    @classmethod
    async def worker(cls, q: Any) -> None:
        """psycopg-pool's maintenance worker, stopped by a cancellation it swallowed.

        A worker cancelled while it connects (an event loop shutting down:
        asyncio.run, a serverless runtime's loop per request, a TestClient's
        portal) logs the cancellation as a failed attempt and waits for its
        next task: the loop would wait for it forever. The queue it waits on
        raises the cancellation again instead.
        """
        # The worker only calls get() on its queue.
        await super().worker(cast(Any, _StopsWhenCancelled(q)))

    @asynccontextmanager
    async def connection(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature of the pool it extends
    ) -> AsyncIterator[AsyncConnection[Any]]:
        async with super().connection(timeout) as conn:
            timer = asyncio.get_running_loop().call_later(self.deadline_seconds, _cut_off, conn)
            try:
                yield conn
            finally:
                timer.cancel()


class _StopsWhenCancelled:
    """A pool's task queue, for a worker whose cancellation was swallowed."""

    def __init__(self, queue: asyncio.Queue[Any]) -> None:
        self._queue = queue

    async def get(self) -> Any:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        return await self._queue.get()


def _cut_off(conn: AsyncConnection[Any]) -> None:
    if conn.closed:
        return
    with contextlib.suppress(OSError, psycopg.Error):
        # A duplicate of the descriptor: shutting it down ends the
        # connection for libpq too, while its own descriptor stays valid
        # until the pool closes it.
        duplicate = socket.socket(fileno=os.dup(conn.pgconn.socket))
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        finally:
            duplicate.close()


def create_pool(
    conninfo: str, settings: Settings, *, open_now: bool = False
) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """A pool whose connections never prepare statements behind a transaction-mode pooler."""
    pool = DeadlinePool(
        conninfo,
        min_size=settings.database_pool_min_size,
        max_size=settings.database_pool_max_size,
        timeout=settings.database_pool_timeout_seconds,
        open=open_now,
        connection_class=Connection,
        configure=configure_connection,
        # psycopg-pool retries a lost connection with a doubling backoff for
        # up to reconnect_timeout. Give up early instead: after an outage the
        # pool then grows on demand and reconnects at once, rather than
        # waiting out a backoff that may have reached tens of seconds.
        reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
        kwargs={
            "prepare_threshold": settings.prepare_threshold,
            # Transactions are begun and ended explicitly (service/db/runner.py).
            "autocommit": True,
            "connect_timeout": settings.database_connect_timeout_seconds,
            "application_name": "rls-iam",
            "row_factory": tuple_row,
        },
        name="rls-iam",
    )
    pool.deadline_seconds = settings.database_deadline_seconds
    return pool
