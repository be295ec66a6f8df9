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
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.audit.catalog import Facts, expected_role_facts, role_facts, snapshot
from service.audit.connection import AuditError, connect, database_name, with_dbname
from service.db.migrate import (
    applied_version,
    apply_policies,
    db_dir,
    latest_migration_version,
    migration_versions,
    policy_files_at,
    run_dbmate,
)
from service.db.target import conninfo_to_url

SCRATCH_PREFIX = "rls_iam_policy_check_"
DEFAULT_API_ROLES = ("rls_iam_api",)


@dataclass(frozen=True)
class Difference:
    key: str
    expected: str | None
    live: str | None

    def describe(self) -> list[str]:
        """The difference in words: what the files say, what the database has."""
        if self.live is None:
            return [f"{self.key}: missing from the database; the files say: {self.expected}"]
        if self.expected is None:
            return [f"{self.key}: not in the files; the database has: {self.live}"]
        if "\n" in self.expected or "\n" in self.live:
            lines = [f"{self.key}: differs (- the files, + the database):"]
            body = difflib.unified_diff(
                self.expected.splitlines(), self.live.splitlines(), lineterm="", n=1
            )
            lines += ["    " + line for line in list(body)[2:]]
            return lines
        return [
            f"{self.key}: differs",
            f"    the files say:    {self.expected}",
            f"    the database has: {self.live}",
        ]


@dataclass(frozen=True)
class CheckResult:
    database: str
    facts: int
    differences: list[Difference]
    version: str | None = None

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def report(self) -> list[str]:
        return [line for d in self.differences for line in d.describe()]


def compare(expected: Facts, live: Facts) -> list[Difference]:
    return [
        Difference(key, expected.get(key), live.get(key))
        for key in sorted(expected.keys() | live.keys())
        if expected.get(key) != live.get(key)
    ]


def check(conninfo: str, api_roles: tuple[str, ...] = DEFAULT_API_ROLES) -> CheckResult:
    try:
        version = applied_version(conninfo)
    except psycopg.errors.InsufficientPrivilege:
        raise AuditError(
            "cannot read iam_migrations.schema_migrations to tell the database's version:"
            " run the check as the role that runs the migrations (it also needs CREATEDB,"
            " for the scratch database)"
        ) from None
    if version is not None and version not in migration_versions():
        raise AuditError(
            f"the database is at migration {version}, which db/migrations does not have:"
            " it was migrated by another release, so there is nothing to compare it with"
        )
    with connect(conninfo) as conn:
        live_name = database_name(conn)
        live = snapshot(conn) | role_facts(conn, api_roles)
        roles_expected = expected_role_facts(conn, api_roles)
    expected = expected_snapshot(conninfo, version) | roles_expected
    return CheckResult(
        database=live_name, facts=len(live), differences=compare(expected, live), version=version
    )


def expected_snapshot(conninfo: str, version: str | None = None) -> Facts:
    """Migrate a scratch database on the same server to `version` and return its facts.

    A database rolled back to an older version is compared with the
    migrations up to that version and the policy files of that version
    (db/policies/history/).
    """
    with _scratch_database(conninfo) as scratch, tempfile.TemporaryDirectory() as folder:
        migrations = db_dir() / "migrations"
        if version is not None and version != latest_migration_version():
            migrations = Path(folder)
            for path in (db_dir() / "migrations").glob("*.sql"):
                if path.name.split("_", 1)[0] <= version:
                    (migrations / path.name).symlink_to(path)

        def up(url: str) -> int:
            return run_dbmate(url, "up", migrations_dir=migrations)

        code, output = _quietly(up, _dbmate_url(scratch))
        if code != 0:
            raise AuditError(
                f"applying db/migrations to a scratch database failed (dbmate exit {code}):\n"
                + output
            )
        apply_policies(scratch, policy_files_at(version))
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
