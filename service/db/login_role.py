"""The API's own login role: it owns nothing and may only become iam_anon and iam_authenticated.

Migrations run as the owner (the role that owns schema iam); the API
connects as this role, so neither a leaked API password nor an SQL
injection gets more than what a request role may do (docs/dba.md, "Trust
model"). The owner creates it, or resets its password, after migrating.
Besides the two memberships, its only grants are those the request's context
statement needs (CONTEXT_FUNCTIONS).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

API_ROLE = "rls_iam_api"
REQUEST_ROLES = ("iam_anon", "iam_authenticated")
PASSWORD_FILE = "api_database_password"  # noqa: S105 - a file name, not a password
# The tenant request's context statement reads the caller and checks the
# session before it has switched role, so as the login role itself
# (service/db/runner.py); NOINHERIT, it needs these grants (and USAGE on
# schema iam) to do so in that statement rather than in one more. They answer
# only what the role could learn by becoming iam_authenticated with that
# context; `policies check` expects them and reports any other grant to it.
CONTEXT_FUNCTIONS = ("iam.request_caller(uuid, uuid)", "iam.request_session(uuid, uuid)")


def ensure_api_role(owner_conninfo: str, password: str, name: str = API_ROLE) -> None:
    """Create the login role (or set its password), let it become the request roles only,
    and grant it the context statement's functions (those this database has)."""
    role = sql.Identifier(name)
    with psycopg.connect(owner_conninfo, autocommit=True) as conn, conn.transaction():
        exists = conn.execute("select 1 from pg_catalog.pg_roles where rolname = %s", (name,))
        # A new role has no other attribute; `policies check` reports one
        # given by hand (only a superuser may take SUPERUSER or BYPASSRLS away).
        verb = "alter" if exists.fetchone() else "create"
        conn.execute(
            sql.SQL(verb + " role {} login noinherit password {}").format(
                role, sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("grant {} to {}").format(
                sql.SQL(", ").join(map(sql.Identifier, REQUEST_ROLES)), role
            )
        )
        # Grants are per database, and a database rolled back past a
        # function has no such function to grant.
        present = {
            str(found)
            for (found,) in conn.execute(
                "select f from unnest(%s::text[]) f"
                " where pg_catalog.to_regprocedure(f) is not null",
                (list(CONTEXT_FUNCTIONS),),
            )
        }
        conn.execute(sql.SQL("grant usage on schema iam to {}").format(role))
        for function in CONTEXT_FUNCTIONS:
            if function in present:
                conn.execute(
                    sql.SQL("grant execute on function " + function + " to {}").format(role)
                )


def as_api_role(owner_conninfo: str, password: str, name: str = API_ROLE) -> str:
    """The owner's connection string, as the API's login role."""
    return make_conninfo(owner_conninfo, user=name, password=password)


def local_password(data_dir: Path) -> str:
    """The embedded server's API password: generated once into the data folder, mode 0600."""
    path = data_dir / PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of several processes starting at once, one writes and all read.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    for _ in range(50):
        password = path.read_text().strip()
        if password:
            return password
        time.sleep(0.02)  # another process is still writing it
    raise RuntimeError(f"cannot read the API's database password from {path}")
