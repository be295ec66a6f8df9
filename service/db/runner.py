"""The per-request transaction: one pooled connection, the runtime role, the caller's context.

Everything the API does in the database goes through anon_transaction() or
a RequestRunner. Both set the role and the identity with
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
from psycopg.abc import Params
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

# One statement; each set_config is transaction-local (is_local = true).
# statement_timeout is set here rather than as a connection option, because
# transaction-mode poolers reject or ignore startup options.
SET_TENANT_CONTEXT = (
    "select set_config('role', 'iam_authenticated', true),"
    " set_config('iam.user_id', %s, true),"
    " set_config('iam.org_id', %s, true),"
    " set_config('statement_timeout', %s, true),"
    " set_config('iam.session_id', %s, true)"
)
SET_ANON_CONTEXT = (
    "select set_config('role', 'iam_anon', true),"
    " set_config('iam.user_id', '', true),"
    " set_config('iam.org_id', '', true),"
    " set_config('statement_timeout', %s, true),"
    " set_config('iam.session_id', '', true)"
)
# Run as iam_authenticated, after the context is set: the caller's role as
# the membership table says now (NULL for a removed or inactive member), and
# whether the caller still exists as an active user. A role already says so
# (member_role() counts active users only), so the user is looked up only
# when there is none: OR evaluates its second operand only when it must.
# The same statement checks that the token's session is live (a primary-key
# probe, under the sessions policies); if not, session_ended() raises IAMSE,
# which aborts the implicit transaction before the request's own statement
# runs. No extra statement, no extra round trip (docs/sessions.md).
SESSION_CHECK = (
    "case when exists (select 1 from iam.sessions as s"
    " where s.id = iam.current_session_id() and s.user_id = iam.current_user_id()"
    " and s.expires_at > now()) then true else iam.session_ended() end"
)
READ_MEMBER_ROLE = (
    "select m.role, m.role is not null or coalesce("
    "(select u.is_active from iam.users as u where u.id = iam.current_user_id()), false),"
    f" {SESSION_CHECK}"
    " from iam.member_role() as m (role)"
)
SESSION_ENDED = "IAMSE"

Conn = AsyncConnection[Any]
Row = tuple[Any, ...]


class CallerRefused(Exception):
    """The database says the token no longer speaks for a caller who may do this."""


class InactiveCaller(CallerRefused):
    """The token's user was deleted or deactivated."""


class SessionEnded(CallerRefused):
    """The token's session was ended (logout, revocation, password change) or expired."""


class NotAMember(CallerRefused):
    """The token's user is not (or no longer) a member of the token's organization."""


@dataclass(frozen=True)
class RequestRunner:
    """One request's access to the database, as (user_id, org_id) under iam_authenticated.

    A tenant request runs exactly one statement, so its whole transaction
    travels in one pipeline, one round trip: the context, the role lookup
    and the statement, up to the pipeline's Sync. Statements of the extended
    protocol up to a Sync form one implicit transaction: the settings made
    with set_config(..., true) hold for the statement and end at the Sync,
    which commits, or rolls everything back if any statement failed.

    The statement runs before Python has seen the role, which is safe
    because the policies read the role themselves; the lookup only chooses
    the status code (401 or 403) once the database has refused or hidden
    everything.
    """

    pool: AsyncConnectionPool[Conn]
    user_id: UUID
    org_id: UUID | None
    session_id: UUID
    statement_timeout_ms: int
    members_only: bool

    async def fetchone(self, query: str, params: Params | None = None) -> Row | None:
        """The statement's first row, committed; InactiveCaller or NotAMember when refused."""
        return (await self.fetchone_with_role(query, params))[1]

    async def fetchone_with_role(
        self, query: str, params: Params | None = None
    ) -> tuple[str | None, Row | None]:
        """The caller's role (None only where non-members are let through) and the
        statement's first row, committed; InactiveCaller or NotAMember when refused."""
        context = (
            str(self.user_id),
            "" if self.org_id is None else str(self.org_id),
            str(self.statement_timeout_ms),
            str(self.session_id),
        )
        caller: psycopg.AsyncCursor[Row] | None = None
        async with self.pool.connection() as conn:
            try:
                async with conn.pipeline():
                    await conn.execute(SET_TENANT_CONTEXT, context)
                    caller = await conn.execute(READ_MEMBER_ROLE)
                    cursor = await conn.execute(query, params)
            except BaseException as error:
                await _rollback(conn)
                if isinstance(error, psycopg.Error) and error.sqlstate == SESSION_ENDED:
                    _forget_prepared(conn)
                    raise SessionEnded from None
                # A refused caller is told so, whatever error the statement met.
                if caller is not None and isinstance(error, psycopg.Error):
                    with contextlib.suppress(psycopg.Error):
                        self._role(await caller.fetchone())
                raise
            return self._role(await caller.fetchone()), await cursor.fetchone()

    def _role(self, caller: Row | None) -> str | None:
        assert caller is not None  # READ_MEMBER_ROLE always returns one row
        role, active, _live = caller
        if not active:
            raise InactiveCaller
        if self.members_only and role is None:
            raise NotAMember
        return None if role is None else str(role)


def _forget_prepared(conn: Conn) -> None:
    """Resynchronize psycopg's prepared-statement cache after a pipeline that
    stopped before its last statement.

    psycopg records a statement as prepared when it queues its Parse; if an
    earlier statement of the pipeline failed (an ended session), the server
    skipped that Parse, and the next use would name a statement that does not
    exist. Clearing the cache makes psycopg deallocate everything on the
    server before its next statement and prepare again from scratch. Only
    ended sessions take this path, so it costs the hot path nothing.
    """
    conn._prepared.clear()  # no public way to resynchronize it


async def _rollback(conn: Conn) -> None:
    if conn.info.transaction_status != TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            await conn.execute("rollback")


@asynccontextmanager
async def anon_transaction(
    pool: AsyncConnectionPool[Conn], statement_timeout_ms: int
) -> AsyncIterator[Conn]:
    """A transaction as iam_anon, for register and login; commits on success.

    The pool's connections are in autocommit mode and the transaction is
    driven by hand: psycopg's own BEGIN waits for its answer even in a
    pipeline, while an explicit one shares the context's round trip.
    """
    async with pool.connection() as conn:
        try:
            async with conn.pipeline():
                await conn.execute("begin")
                await conn.execute(SET_ANON_CONTEXT, (str(statement_timeout_ms),))
            yield conn
        except BaseException:
            await _rollback(conn)
            raise
        await conn.execute("commit")
