"""Helpers of the audit tests."""

from __future__ import annotations

from collections.abc import Callable

import psycopg


def run_sql(conninfo: str, statements: str) -> None:
    """Commit statements as the migrating (super)user."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[arg-type]  # the test's own SQL


RunPolicies = Callable[..., tuple[int, str, str]]
