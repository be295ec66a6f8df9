"""`rls-iam audit-log archive`: an operator moves old audit events to a file.

The audit log is append-only for every role a request can use (docs/audit.md).
Retention is the operator's decision: this command, run as a superuser or a
role with BYPASSRLS (row-level security is forced on the table, and no policy
lets anyone else see an event), writes every event older than a cutoff to a
new JSON Lines file and deletes exactly those events, in one REPEATABLE READ
transaction: an event committed while it runs is neither written nor deleted.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from service.audit.connection import target_conninfo
from service.db.queries import audit_events

SELECT_OLD = audit_events.ARCHIVE_SELECT_OLD
DELETE_OLD = audit_events.ARCHIVE_DELETE_OLD


class ArchiveError(Exception):
    """Nothing was archived nor deleted."""


def archive(conninfo: str, before: datetime, output: Path) -> int:
    """Write the events older than before to output (a new file), delete them; their count."""
    if before.tzinfo is None:
        raise ArchiveError("--before needs a time zone, e.g. 2026-01-01T00:00:00+00:00")
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        _require_bypass(conn)
        try:
            handle = output.open("x", encoding="utf-8")
        except FileExistsError:
            raise ArchiveError(f"{output} exists; choose a new file") from None
        written = 0
        with handle:
            with conn.cursor(name="audit_archive") as rows:
                for (line,) in rows.execute(SELECT_OLD, (before,)):
                    handle.write(line + "\n")
                    written += 1
            handle.flush()
            os.fsync(handle.fileno())
        deleted = conn.execute(DELETE_OLD, (before,)).rowcount
        if deleted != written:
            conn.rollback()
            output.unlink()
            raise ArchiveError(f"wrote {written} events but would delete {deleted}; nothing done")
        conn.commit()
    return written


def _require_bypass(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(audit_events.BYPASSES_RLS).fetchone()
    if not (row and row[0]):
        raise ArchiveError(
            "the audit log is invisible to this role (row-level security is forced): "
            "connect as a superuser or a role with BYPASSRLS (on Supabase, postgres)"
        )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rls-iam audit-log", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    move = commands.add_parser("archive", help="move events older than --before to --output")
    move.add_argument(
        "--before", required=True, type=datetime.fromisoformat, help="cutoff, with a time zone"
    )
    move.add_argument("--output", required=True, type=Path, help="a new JSON Lines file")
    move.add_argument("--database-url", help="default: DATABASE_URL, else the embedded server")
    args = parser.parse_args(argv)
    try:
        count = archive(target_conninfo(args.database_url), args.before, args.output)
    except (ArchiveError, psycopg.Error) as error:
        print(f"rls-iam audit-log: {error}".strip())
        return 2
    print(f"Archived {count} events older than {args.before.isoformat()} to {args.output}")
    return 0
