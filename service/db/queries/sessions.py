"""SQL for sign-in sessions and their refresh tokens (docs/sessions.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from service.db.queries.pages import AFTER, After, PageRow, fetch_page, keyset_page
from service.db.runner import RequestRunner

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class Started:
    session_id: UUID
    expires_at: datetime


@dataclass(frozen=True)
class Refreshed:
    session_id: UUID
    user_id: UUID
    organization_id: UUID | None
    organization_name: str | None
    role: str | None
    expires_at: datetime


@dataclass(frozen=True)
class Switched:
    organization_id: UUID
    organization_name: str
    role: str
    expires_at: datetime


async def start(
    conn: Conn,
    user_id: UUID,
    organization_id: UUID | None,
    refresh_token: str,
    ttl_seconds: int,
    user_agent: str | None,
) -> Started:
    """A new session (as iam_anon, right after the password or the registration)."""
    cursor = await conn.execute(
        "select session_id, expires_at from iam.start_session(%s, %s, %s, %s, %s)",
        (user_id, organization_id, refresh_token, ttl_seconds, user_agent),
    )
    row = await cursor.fetchone()
    assert row is not None
    return Started(*row)


async def refresh(conn: Conn, refresh_token: str, new_refresh_token: str) -> Refreshed | None:
    """Rotate (as iam_anon); None for an unknown, spent, expired or ended token."""
    cursor = await conn.execute(
        "select session_id, user_id, organization_id, organization_name, role, expires_at"
        " from iam.refresh_session(%s, %s)",
        (refresh_token, new_refresh_token),
    )
    row = await cursor.fetchone()
    return None if row is None else Refreshed(*row)


async def switch_organization(
    db: RequestRunner, organization_id: UUID, new_refresh_token: str
) -> Switched | None:
    row = await db.fetchone(
        "select organization_id, organization_name, role, expires_at"
        " from iam.switch_session_organization(%s, %s)",
        (organization_id, new_refresh_token),
    )
    return None if row is None else Switched(*row)


# Ending sessions is deleting them, through functions that run as
# iam_deleter with the caller's context; the policies let a user delete their
# own sessions only, so another user's session id deletes nothing (404).
END_CURRENT = "select iam.end_session(iam.current_session_id())"
END = "select iam.end_session(%s)"
END_OTHERS = "select iam.end_other_sessions()"


async def end_current(db: RequestRunner) -> None:
    await db.fetchone(END_CURRENT)


async def end(db: RequestRunner, session_id: UUID) -> bool:
    row = await db.fetchone(END, (session_id,))
    return row is not None and bool(row[0])


COLUMNS = ("id", "created_at", "last_used_at", "expires_at", "user_agent", "current")


def _page(where: str) -> str:
    return keyset_page(
        "select s.id, s.created_at, s.last_used_at, s.expires_at, s.user_agent,"
        " s.id = iam.current_session_id() as current, s.id as page_key"
        f" from iam.sessions as s where s.expires_at > now() {where}"
        " order by s.created_at desc, s.id desc limit %(limit)s + 1",
        COLUMNS,
    )


LIST_FIRST = _page("")
LIST_AFTER = _page("and " + AFTER.format(created="s.created_at", key="s.id"))


async def list_page(db: RequestRunner, limit: int, after: After | None) -> PageRow:
    return await fetch_page(db, LIST_FIRST, LIST_AFTER, limit, after)
