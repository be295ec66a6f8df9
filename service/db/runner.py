"""The per-request transaction: one pooled connection, the runtime role, the caller's context.

Everything the API does in the database goes through anon_transaction() or
a RequestRunner. Both set the role and the identity with
set_config(..., true), so they end with the transaction and never outlive it
on a pooled connection, also behind a transaction-mode pooler.
"""

from __future__ import annotations

import contextlib
import weakref
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

# The tenant request's context statement, the first of its two statements:
# it sets the context and reads the caller (role and activity) and checks
# the token's session, in one.
# `context` makes the settings, each set_config(..., true), so they end with
# the transaction; statement_timeout is among them because transaction-mode
# poolers reject or ignore startup options. `offset 0` keeps the subquery
# whole, so every setting is made, used or not. The checks run beside it as
# LATERAL items that take the values just set from `context`: data, not
# evaluation order, puts each check after the settings it reads.
#
# The session check, iam.request_session, is a primary-key probe of
# iam.sessions that raises IAMSE (through iam.session_ended()) when the
# token's session has ended, expired or is another user's. The error aborts
# the implicit transaction before the request's own statement runs: no
# extra statement, no extra round trip, nothing written (docs/sessions.md).
#
# To extend it without another statement: a setting is one more set_config
# column in `context` (and one more named parameter, in tenant_context());
# a check is one more output column of iam.request_caller, or one more
# LATERAL function of the `context` columns it needs, whose columns follow
# in the select list and in RequestRunner._role().
_CONTEXT = (
    "(select set_config('role', 'iam_authenticated', true),"
    " set_config('statement_timeout', %(statement_timeout)s, true),"
    " set_config('iam.user_id', %(user_id)s, true) as user_id,"
    " set_config('iam.org_id', %(org_id)s, true) as org_id,"
    " set_config('iam.session_id', %(session_id)s, true) as session_id,"
    # The request's X-Request-ID: the audit triggers copy it into every event
    # the transaction records, so an event leads to its request's log lines.
    " set_config('iam.request_id', %(request_id)s, true)"
    " offset 0) as context"
)
SESSION_CHECK = (
    " cross join lateral iam.request_session("
    "nullif(context.user_id, '')::uuid, nullif(context.session_id, '')::uuid) as session"
)
SET_TENANT_CONTEXT = (
    "select caller.role, caller.is_active, session.is_live"
    f" from {_CONTEXT}"
    " cross join lateral iam.request_caller("
    "nullif(context.user_id, '')::uuid, nullif(context.org_id, '')::uuid) as caller"
    f"{SESSION_CHECK}"
)
# The statement runs as the connecting role until its end, so that role
# executes iam.request_caller and iam.request_session itself: through
# membership in iam_authenticated with INHERIT, or grants of its own. The
# API's NOINHERIT login role gets those grants from `db migrate`
# (service/db/login_role.py); one without them (made by hand) reads the
# caller and checks the session in a statement of its own, as
# iam_authenticated, after a context statement that only sets: three
# statements instead of two, the same answers (docs/dba.md).
SET_TENANT_CONTEXT_ONLY = f"select 1 from {_CONTEXT}"
READ_CALLER = (
    "select caller.role, caller.is_active, session.is_live"
    " from iam.request_caller(iam.current_user_id(), iam.current_org_id()) as caller"
    " cross join iam.request_session(iam.current_user_id(), iam.current_session_id()) as session"
)
MAY_READ_CALLER_IN_CONTEXT = (
    "select pg_catalog.has_schema_privilege('iam', 'USAGE')"
    " and pg_catalog.has_function_privilege('iam.request_caller(uuid, uuid)', 'EXECUTE')"
    " and pg_catalog.has_function_privilege('iam.request_session(uuid, uuid)', 'EXECUTE')"
)
# Parameters: statement timeout, request id.
SET_ANON_CONTEXT = (
    "select set_config('role', 'iam_anon', true),"
    " set_config('iam.user_id', '', true),"
    " set_config('iam.org_id', '', true),"
    " set_config('statement_timeout', %s, true),"
    " set_config('iam.session_id', '', true),"
    " set_config('iam.request_id', %s, true)"
)
SESSION_ENDED = "IAMSE"


# Per connection: whether its login role may run SET_TENANT_CONTEXT, learned
# once when the pool opens the connection (configure_connection).
_reads_caller_in_context: weakref.WeakKeyDictionary[Conn, bool] = weakref.WeakKeyDictionary()


async def configure_connection(conn: Conn) -> None:
    """Learn which context statement this connection's login role may run."""
    row = await (await conn.execute(MAY_READ_CALLER_IN_CONTEXT)).fetchone()
    _reads_caller_in_context[conn] = bool(row and row[0])


def tenant_context(
    user_id: object,
    org_id: object,
    statement_timeout_ms: object,
    session_id: object = None,
    request_id: str = "",
) -> dict[str, str]:
    """The parameters of SET_TENANT_CONTEXT ('' for None: no organization, no session)."""
    return {
        "user_id": "" if user_id is None else str(user_id),
        "org_id": "" if org_id is None else str(org_id),
        "statement_timeout": str(statement_timeout_ms),
        "session_id": "" if session_id is None else str(session_id),
        "request_id": request_id,
    }


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
    travels in one pipeline, one round trip of two statements: the context
    (which also reads the caller's role and activity) and the statement, up
    to the pipeline's Sync. Statements of the extended
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
    # The request's X-Request-ID, for the audit events the statement records.
    request_id: str = ""

    async def fetchone(self, query: str, params: Params | None = None) -> Row | None:
        """The statement's first row, committed; InactiveCaller or NotAMember when refused."""
        return (await self.fetchone_with_role(query, params))[1]

    async def fetchone_with_role(
        self, query: str, params: Params | None = None
    ) -> tuple[str | None, Row | None]:
        """The caller's role (None only where non-members are let through) and the
        statement's first row, committed; InactiveCaller or NotAMember when refused."""
        context = tenant_context(
            self.user_id,
            self.org_id,
            self.statement_timeout_ms,
            self.session_id,
            self.request_id,
        )
        caller: psycopg.AsyncCursor[Row] | None = None
        async with self.pool.connection() as conn:
            try:
                async with conn.pipeline():
                    if _reads_caller_in_context.get(conn, False):
                        caller = await conn.execute(SET_TENANT_CONTEXT, context)
                    else:
                        await conn.execute(SET_TENANT_CONTEXT_ONLY, context)
                        caller = await conn.execute(READ_CALLER)
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
        assert caller is not None  # request_caller and request_session return one row
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
    pool: AsyncConnectionPool[Conn], statement_timeout_ms: int, request_id: str = ""
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
                await conn.execute(SET_ANON_CONTEXT, (str(statement_timeout_ms), request_id))
            yield conn
        except BaseException:
            await _rollback(conn)
            raise
        await conn.execute("commit")
