"""Drift between the live database and what db/migrations + db/policies/ produce.

The expected state is not parsed out of the SQL files: it is built by
applying them, with the same code as `rls-iam db migrate`, to a scratch
database on the same server, so both sides come from the same PostgreSQL
version and print expressions the same way. The scratch database is
dropped afterwards.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.audit.catalog import snapshot
from service.audit.connection import AuditError, connect, database_name, with_dbname
from service.db.migrate import apply_policies, run_dbmate
from service.db.target import conninfo_to_url

SCRATCH_PREFIX = "rls_iam_policy_check_"


@dataclass(frozen=True)
class CheckResult:
    database: str
    facts: int
    diff: list[str]

    @property
    def ok(self) -> bool:
        return not self.diff


def check(conninfo: str) -> CheckResult:
    with connect(conninfo) as conn:
        live_name = database_name(conn)
        live = snapshot(conn)
    expected = expected_snapshot(conninfo)
    diff = list(
        difflib.unified_diff(
            expected,
            live,
            fromfile="expected (db/migrations + db/policies)",
            tofile=f"live ({live_name})",
            lineterm="",
            n=1,
        )
    )
    return CheckResult(database=live_name, facts=len(live), diff=diff)


def expected_snapshot(conninfo: str) -> list[str]:
    """Migrate a scratch database on the same server and return its facts."""
    with _scratch_database(conninfo) as scratch:
        code, output = _quietly(run_dbmate, _dbmate_url(scratch), "up")
        if code != 0:
            raise AuditError(
                f"applying db/migrations to a scratch database failed (dbmate exit {code}):\n"
                + output
            )
        apply_policies(scratch)
        with connect(scratch) as conn:
            return snapshot(conn)


def _dbmate_url(conninfo: str) -> str:
    """dbmate's driver requires SSL unless told otherwise; libpq's default is to prefer it."""
    params = conninfo_to_dict(conninfo)
    host = str(params.get("host") or "")
    if "sslmode" not in params and host and not host.startswith("/"):
        conninfo = make_conninfo(conninfo, sslmode="prefer")
    return conninfo_to_url(conninfo)


@contextlib.contextmanager
def _scratch_database(conninfo: str) -> Iterator[str]:
    name = SCRATCH_PREFIX + secrets.token_hex(6)
    with connect(conninfo) as admin:
        try:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege:
            raise AuditError(
                "cannot create a scratch database to build the expected state: the role "
                "lacks CREATEDB. Run the check as a role that has it (on Supabase, the "
                "postgres role), or grant it: ALTER ROLE <role> CREATEDB."
            ) from None
        try:
            yield with_dbname(conninfo, name)
        finally:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def _quietly(run: Callable[..., int], *args: str) -> tuple[int, str]:
    """Run a function whose subprocess prints to fds 1 and 2; return its code and that output.

    The check prints one line when all is well; dbmate's progress is shown
    only when it fails.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            code = run(*args)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        sink.seek(0)
        return code, sink.read()
