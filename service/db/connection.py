"""The pool's connection class: psycopg's, with pipelines that end on their Sync.

psycopg ends a pipeline with a Sync and then, while results are still on
their way, a Flush. The Flush is redundant (a Sync already makes the server
send everything up to its ReadyForQuery) and, behind PgBouncer in
transaction mode, harmful: when the ReadyForQuery reaches PgBouncer before
the Flush does, PgBouncer releases the server connection, then hands it back
to this client for the Flush, which never gets a ReadyForQuery. The server
connection stays tied to an idle client, and every other client queues until
PgBouncer's query_wait_timeout. Under load that order is common. The
pipelines here send the Sync and wait for its results, nothing more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection, AsyncPipeline
from psycopg.abc import PQGen


class SyncEndedPipeline(AsyncPipeline):
    """psycopg's pipeline without the Flush after its closing Sync."""

    def _exit_gen(self) -> PQGen[None]:
        # psycopg's own, with flush=False: psycopg's sync() fetches the
        # same way, the Sync having flushed the server's output.
        try:
            self._enqueue_sync()
            yield from self._communicate_gen()
        finally:
            yield from self._fetch_gen(flush=False)


class Connection(AsyncConnection[Any]):
    """A connection whose pipeline() is a SyncEndedPipeline."""

    @asynccontextmanager
    async def pipeline(self) -> AsyncIterator[AsyncPipeline]:
        # psycopg's pipeline() keeps a pipeline already attached to the
        # connection (nested pipelines share it) and detaches it at the
        # outermost exit, so attaching ours first is all it takes.
        if self._pipeline is None:
            self._pipeline = SyncEndedPipeline(self)
        async with super().pipeline() as pipeline:
            yield pipeline
