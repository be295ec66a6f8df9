"""The bench's PostgreSQL: the embedded server in its own folder, or DATABASE_URL's server.

Each dataset lives in a database of its own (rls_iam_bench, and the 10x
smaller rls_iam_bench_small), migrated exactly as `rls-iam db migrate` does,
seeded once, and reused by later runs of the same scale: the database's
comment records what was seeded.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.plan import PASSWORD, Plan
from bench.seed import seed, seed_tag
from service.db.embedded import EmbeddedPostgres
from service.db.migrate import apply_policies, run_dbmate
from service.db.target import conninfo_to_url
from service.security.passwords import Passwords


def with_dbname(conninfo: str, dbname: str) -> str:
    params = conninfo_to_dict(conninfo)
    params["dbname"] = dbname
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


@dataclass
class BenchServer:
    """Where the bench databases are created; stops the embedded server if it started it."""

    admin_conninfo: str  # a superuser connection to an existing database of the server
    embedded: EmbeddedPostgres | None
    started_here: bool

    @classmethod
    def open(cls, data_dir: Path) -> BenchServer:
        url = os.environ.get("DATABASE_URL")
        if url:
            server = cls(url, None, False)
        else:
            embedded = EmbeddedPostgres(data_dir)
            started = embedded.start()
            # The folder is the bench's alone: keep it out of version control.
            (embedded.data_dir / ".gitignore").write_text("*\n")
            server = cls(embedded.conninfo("postgres"), embedded, started)
        server._require_superuser()
        return server

    def describe(self) -> str:
        with psycopg.connect(self.admin_conninfo) as conn:
            row = conn.execute("show server_version").fetchone()
        where = f"embedded, {self.embedded.data_dir}" if self.embedded else "DATABASE_URL"
        return f"PostgreSQL {row[0] if row else '?'} ({where})"

    def conninfo(self, dbname: str) -> str:
        return with_dbname(self.admin_conninfo, dbname)

    def close(self) -> None:
        if self.embedded is not None and self.started_here:
            self.embedded.stop()

    def _require_superuser(self) -> None:
        # Seeding writes around forced RLS, and the app-filter path of the
        # comparison reads without it: both need a superuser (or BYPASSRLS).
        with psycopg.connect(self.admin_conninfo) as conn:
            row = conn.execute(
                "select rolsuper or rolbypassrls from pg_roles where rolname = current_user"
            ).fetchone()
        if not (row and row[0]):
            raise SystemExit(
                "bench: the database user must be a superuser (or have BYPASSRLS) "
                "to seed around the policies"
            )

    def prepare(self, dbname: str, plan: Plan, *, reseed: bool, log: Any) -> str:
        """A migrated database seeded with plan; reused when an earlier run seeded the same."""
        conninfo = self.conninfo(dbname)
        tag = seed_tag(plan)
        if not reseed and self._comment(dbname) == tag:
            log(f"{dbname}: reusing the seeded dataset ({plan.tag()})")
            _migrate(conninfo)
            remove_bench_rows(conninfo)
            return conninfo
        log(f"{dbname}: seeding {plan.tag()}")
        started = time.monotonic()
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{dbname}" with (force)')
            conn.execute(f'create database "{dbname}"')
        _migrate(conninfo)
        password_hash = Passwords().hasher.hash(PASSWORD)
        with psycopg.connect(conninfo) as conn:
            seed(conn, plan, password_hash)
            conn.commit()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            # Visibility map and statistics, as autovacuum would leave them.
            conn.execute("vacuum (analyze)")
            conn.execute(f"comment on database \"{dbname}\" is '{tag}'")
        log(f"{dbname}: seeded in {time.monotonic() - started:.1f} s")
        return conninfo

    def _comment(self, dbname: str) -> str | None:
        with psycopg.connect(self.admin_conninfo) as conn:
            row = conn.execute(
                "select shobj_description(oid, 'pg_database') from pg_database where datname = %s",
                (dbname,),
            ).fetchone()
        return None if row is None else row[0]


def _migrate(conninfo: str) -> None:
    if run_dbmate(conninfo_to_url(conninfo), "up") != 0:
        raise SystemExit("bench: dbmate up failed")
    apply_policies(conninfo)


def remove_bench_rows(conninfo: str) -> None:
    """Delete the projects that measurements inserted, so every run starts from the seed."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        deleted = conn.execute("delete from iam.projects where name like 'bench-%'").rowcount
        if deleted:
            conn.execute("vacuum (analyze) iam.projects")
