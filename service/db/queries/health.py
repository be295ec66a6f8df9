"""What readiness asks the database."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection


async def applied_migration(conn: AsyncConnection[Any]) -> str | None:
    """The newest migration version the database has applied, or None."""
    row = await (
        await conn.execute("select max(version) from iam_migrations.schema_migrations")
    ).fetchone()
    return row[0] if row else None
