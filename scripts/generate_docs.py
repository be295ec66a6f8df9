#!/usr/bin/env python
"""Regenerate the files CI compares with the code: db/schema.sql and docs/policies.md.

    python scripts/generate_docs.py        # or: make docs

Both come from a database of their own, freshly migrated the way
`rls-iam db migrate` does it, on the embedded PostgreSQL of the tests
(.rls-iam-test/, or RLS_IAM_TEST_DATA_DIR): db/schema.sql is what dbmate dumps
(without version stamps: the same from every supported major;
tests/db/test_migrations.py compares it),
docs/policies.md is `rls-iam policies matrix --format markdown`
(tests/audit/test_matrix.py and .ci/checks/20-pgtap.sh compare it). The
database is dropped afterwards; the server is left running, as the tests
leave it (`RLS_IAM_DATA_DIR=.rls-iam-test rls-iam db stop` stops it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.db.embedded import EmbeddedPostgres  # noqa: E402
from service.db.migrate import apply_policies, db_dir, dump_schema, run_dbmate  # noqa: E402
from service.db.target import conninfo_to_url  # noqa: E402

DATA_DIR = Path(os.environ.get("RLS_IAM_TEST_DATA_DIR", REPO / ".rls-iam-test"))


def _admin(server: str, statement: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(statement.encode())


def _matrix_markdown(conninfo: str) -> str:
    command = [sys.executable, "-m", "service.cli", "policies", "matrix", "--format", "markdown"]
    result = subprocess.run(  # noqa: S603
        [*command, "--database-url", conninfo],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def main() -> int:
    server = EmbeddedPostgres(DATA_DIR)
    server.start()
    admin = server.conninfo("postgres")
    name = f"rls_iam_docs_{uuid.uuid4().hex[:8]}"
    conninfo = make_conninfo(admin, dbname=name)
    _admin(admin, f'create database "{name}"')
    try:
        url = conninfo_to_url(conninfo)
        if run_dbmate(url, "up") != 0:
            return 1
        apply_policies(conninfo)
        schema = db_dir() / "schema.sql"
        if dump_schema(url, schema) != 0:
            return 1
        print(f"wrote {schema.relative_to(REPO)}")
        policies = REPO / "docs" / "policies.md"
        policies.write_text(_matrix_markdown(conninfo))
        print(f"wrote {policies.relative_to(REPO)}")
    finally:
        _admin(admin, f'drop database if exists "{name}" with (force)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
