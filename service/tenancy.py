"""The per-request transaction: one pooled connection, the runtime role, the caller's context.

Everything the API does in the database goes through anon_transaction() or
tenant_transaction(). Both set the role and the identity with
set_config(..., true), so they end with the transaction and never outlive it
on a pooled connection, also behind a transaction-mode pooler.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

# One statement; each set_config is transaction-local (is_local = true).
# statement_timeout is set here rather than as a connection option, because
# transaction-mode poolers reject or ignore startup options.
SET_TENANT_CONTEXT = (
    "select set_config('role', 'iam_authenticated', true),"
    " set_config('iam.user_id', %s, true),"
    " set_config('iam.org_id', %s, true),"
    " set_config('statement_timeout', %s, true)"
)
SET_ANON_CONTEXT = (
    "select set_config('role', 'iam_anon', true),"
    " set_config('iam.user_id', '', true),"
    " set_config('iam.org_id', '', true),"
    " set_config('statement_timeout', %s, true)"
)
# Run as iam_authenticated, after the context is set: the caller's role as
# the membership table says now (NULL for a removed or inactive member), and
# whether the caller still exists as an active user.
READ_MEMBER_ROLE = (
    "select iam.member_role(),"
    " coalesce((select u.is_active from iam.users as u where u.id = iam.current_user_id()), false)"
)

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class Tenant:
    conn: Conn
    user_id: UUID
    org_id: UUID
    role: str | None
    user_active: bool


@asynccontextmanager
async def _transaction(pool: AsyncConnectionPool[Conn]) -> AsyncIterator[Conn]:
    """A pooled connection in one transaction: committed on success, else rolled back.

    The pool's connections are in autocommit mode and the transaction is
    driven by hand: psycopg's own BEGIN waits for its answer even in a
    pipeline, while an explicit one shares the context's round trip.
    """
    async with pool.connection() as conn:
        try:
            yield conn
        except BaseException:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute("rollback")
            raise
        await conn.execute("commit")


@asynccontextmanager
async def tenant_transaction(
    pool: AsyncConnectionPool[Conn], user_id: UUID, org_id: UUID, statement_timeout_ms: int
) -> AsyncIterator[Tenant]:
    """A transaction as iam_authenticated for (user_id, org_id); commits on success.

    BEGIN, the context and the role lookup travel in one pipeline: one round
    trip. The role is read in a second statement because a login role that
    does not inherit iam_authenticated may only call iam.member_role() once
    it has switched to it.
    """
    async with _transaction(pool) as conn:
        async with conn.pipeline():
            await conn.execute("begin")
            await conn.execute(
                SET_TENANT_CONTEXT, (str(user_id), str(org_id), str(statement_timeout_ms))
            )
            cursor = await conn.execute(READ_MEMBER_ROLE)
        row = await cursor.fetchone()
        assert row is not None
        yield Tenant(conn=conn, user_id=user_id, org_id=org_id, role=row[0], user_active=row[1])


@asynccontextmanager
async def anon_transaction(
    pool: AsyncConnectionPool[Conn], statement_timeout_ms: int
) -> AsyncIterator[Conn]:
    """A transaction as iam_anon, for register and login; commits on success."""
    async with _transaction(pool) as conn:
        async with conn.pipeline():
            await conn.execute("begin")
            await conn.execute(SET_ANON_CONTEXT, (str(statement_timeout_ms),))
        yield conn
