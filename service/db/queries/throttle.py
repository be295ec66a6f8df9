"""Rate limits on /auth/login and /auth/register, counted in PostgreSQL."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from service.settings import Settings

CLIENT_WINDOW_SECONDS = 60


async def throttle_wait(
    conn: AsyncConnection[Any], settings: Settings, client: str, email: str | None
) -> int:
    """Count this auth request; the seconds to wait when a limit is reached, else 0.

    The caller raises service.http.errors.too_many_requests() after its transaction commits, so
    that refused attempts are counted too.
    """
    cursor = await conn.execute(
        "select iam.throttle_auth(%s, %s, %s, %s, %s, %s)",
        (
            client,
            email,
            settings.rate_limit_ip_per_minute,
            CLIENT_WINDOW_SECONDS,
            settings.rate_limit_failed_logins_per_email,
            settings.rate_limit_failed_login_window_seconds,
        ),
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def record_login_failure(conn: AsyncConnection[Any], settings: Settings, email: str) -> None:
    await conn.execute(
        "select iam.record_login_failure(%s, %s)",
        (email, settings.rate_limit_failed_login_window_seconds),
    )
