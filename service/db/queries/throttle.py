"""Rate limits on /auth/login and /auth/register, counted in PostgreSQL.

The policy (README, "Abuse limits"): every auth request counts against its
client (an address, or an IPv6 /64); a login reserves a failure for its
(email, client) pair before the password is verified, refused past the
limit; failures of one email from every client together, counted after
the check, only slow the check down. Windows slide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from service.settings import Settings

CLIENT_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class LoginAttempt:
    """A reserved attempt (wait_seconds 0) and the account it may open, if any."""

    wait_seconds: int
    slow_down: bool
    user_id: UUID | None
    password_hash: str | None
    is_active: bool | None
    organization_id: UUID | None
    organization_name: str | None
    role: str | None


async def throttle_client(conn: AsyncConnection[Any], settings: Settings, client: str) -> int:
    """Count this request against the client; the seconds to wait when over the limit, else 0.

    The caller raises service.http.errors.too_many_requests() after its
    transaction commits, so that refused requests are counted too.
    """
    cursor = await conn.execute(
        "select iam.throttle_client(%s, %s, %s)",
        (client, settings.rate_limit_ip_per_minute, CLIENT_WINDOW_SECONDS),
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def login_attempt(
    conn: AsyncConnection[Any],
    settings: Settings,
    client: str,
    email: str,
    organization_id: UUID | None,
) -> LoginAttempt:
    """Count, reserve a failure, and look the account up: one statement."""
    cursor = await conn.execute(
        "select wait_seconds, slow_down, user_id, password_hash, is_active, organization_id,"
        " organization_name, role from iam.login_attempt(%s, %s, %s, %s, %s, %s, %s)",
        (
            client,
            email,
            organization_id,
            settings.rate_limit_ip_per_minute,
            CLIENT_WINDOW_SECONDS,
            settings.rate_limit_failed_logins_per_email,
            settings.rate_limit_failed_login_window_seconds,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None  # iam.login_attempt always answers one row
    return LoginAttempt(*row)


async def login_succeeded(
    conn: AsyncConnection[Any], settings: Settings, client: str, email: str
) -> None:
    await conn.execute(
        "select iam.login_succeeded(%s, %s, %s)",
        (client, email, settings.rate_limit_failed_login_window_seconds),
    )


async def login_failed(conn: AsyncConnection[Any], settings: Settings, email: str) -> None:
    await conn.execute(
        "select iam.login_failed(%s, %s)",
        (email, settings.rate_limit_failed_login_window_seconds),
    )
