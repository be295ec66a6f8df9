"""What the app holds for its lifetime: settings, the pool, token and password services."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from service.db.pool import create_pool
from service.http.metrics import register_pool
from service.http.pagination import CursorCodec
from service.security.passwords import Passwords
from service.security.tokens import TokenService
from service.settings import Settings


@dataclass
class AppState:
    settings: Settings
    pool: AsyncConnectionPool[AsyncConnection[Any]]
    tokens: TokenService
    passwords: Passwords
    latest_migration: str | None
    conninfo: str
    cursors: CursorCodec
    pool_loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    async def ready_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        """The pool, open and bound to the running event loop.

        A server opens it once in the lifespan. A serverless runtime may skip
        the lifespan, or even run each request in an event loop of its own;
        a pool's workers live in the loop that opened it, so a new loop gets
        a new pool (the old one's connections went with its loop).
        """
        loop = asyncio.get_running_loop()
        if self.pool_loop is not loop:
            if self.pool_loop is not None:
                self.pool = create_pool(self.conninfo, self.settings)
                register_pool(self.pool)
            self.pool_loop = loop
        if self.pool.closed:
            await self.pool.open(wait=False)
        return self.pool
