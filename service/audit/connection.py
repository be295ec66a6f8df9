"""Which database the audit commands look at, and how they connect to it."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from service.db.target import resolve_database
from service.settings import get_settings

Conn = psycopg.Connection[Any]


class AuditError(Exception):
    """The audit could not run at all (exit code 2), as opposed to a finding (exit code 1)."""


def target_conninfo(database_url: str | None) -> str:
    """--database-url when given, else DATABASE_URL, else the embedded server."""
    if database_url:
        return database_url
    return resolve_database(get_settings()).conninfo


def with_dbname(conninfo: str, dbname: str) -> str:
    """The same server, user and options, another database."""
    return make_conninfo(conninfo, dbname=dbname)


def connect(conninfo: str, *, autocommit: bool = True) -> Conn:
    """A connection whose catalog output does not depend on the caller's search_path.

    pg_get_expr() and regprocedure print a name without its schema when the
    schema is on the search_path; with only pg_catalog there, every iam name
    comes out qualified, the same way on every database.
    """
    try:
        conn = psycopg.connect(conninfo, autocommit=autocommit)
    except psycopg.OperationalError as error:
        raise AuditError(f"cannot connect to the database: {error}".strip()) from None
    conn.execute("select pg_catalog.set_config('search_path', 'pg_catalog', false)")
    if not autocommit:
        conn.commit()
    return conn


def database_name(conn: Conn) -> str:
    row = conn.execute("select pg_catalog.current_database()").fetchone()
    assert row is not None
    return str(row[0])
