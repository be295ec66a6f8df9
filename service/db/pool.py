"""The connection pool, configured for direct connections or transaction-mode poolers."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from service.db.runner import configure_connection
from service.settings import Settings

RECONNECT_TIMEOUT_SECONDS = 3.0


def create_pool(
    conninfo: str, settings: Settings, *, open_now: bool = False
) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """A pool whose connections never prepare statements behind a transaction-mode pooler."""
    return AsyncConnectionPool(
        conninfo,
        min_size=settings.database_pool_min_size,
        max_size=settings.database_pool_max_size,
        timeout=settings.database_pool_timeout_seconds,
        open=open_now,
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
