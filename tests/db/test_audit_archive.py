"""`rls-iam audit-log archive`: old events move to a file, newer ones and the rule stay."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from service.cli import main as cli_main
from service.cli.audit_log import ArchiveError, archive
from tests.support.database import migrated_database
from tests.support.sql import make_tenant


@pytest.fixture
def scratch(server_conninfo: str) -> Iterator[str]:
    """A database of its own: the command archives every organization's old events."""
    with migrated_database(server_conninfo, "archive") as conninfo:
        yield conninfo


def _events(conninfo: str) -> dict[uuid.UUID, uuid.UUID]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("select id, organization_id from iam.audit_events").fetchall()
    return {row[0]: row[1] for row in rows}


def _age(conninfo: str, org_id: uuid.UUID, days: int) -> None:
    # Only a superuser can backdate an event; the test needs old ones.
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "update iam.audit_events set occurred_at = occurred_at - make_interval(days => %s)"
            " where organization_id = %s",
            (days, org_id),
        )


def test_archive_moves_old_events_to_a_file_and_keeps_the_others(
    scratch: str, tmp_path: Path
) -> None:
    with psycopg.connect(scratch) as conn:
        old, recent = make_tenant(conn, "old"), make_tenant(conn, "recent")
    _age(scratch, old.org_id, 400)
    before = _events(scratch)
    old_ids = {e for e, org in before.items() if org == old.org_id}
    assert old_ids and len(before) > len(old_ids)

    output = tmp_path / "audit-old.jsonl"
    cutoff = datetime.now(UTC) - timedelta(days=30)
    code = cli_main(
        [
            "audit-log",
            "archive",
            "--before",
            cutoff.isoformat(),
            "--output",
            str(output),
            "--database-url",
            scratch,
        ]
    )
    assert code == 0
    archived = [json.loads(line) for line in output.read_text().splitlines()]
    assert {uuid.UUID(e["id"]) for e in archived} == old_ids
    assert {e["organization_id"] for e in archived} == {str(old.org_id)}
    assert set(archived[0]) >= {"action", "actor_user_id", "changes", "request_id"}
    after = _events(scratch)
    assert set(after) == set(before) - old_ids
    assert {org for org in after.values()} == {recent.org_id}


def test_archive_never_overwrites_a_file_and_changes_nothing(scratch: str, tmp_path: Path) -> None:
    with psycopg.connect(scratch) as conn:
        tenant = make_tenant(conn, "t")
    _age(scratch, tenant.org_id, 400)
    before = _events(scratch)
    output = tmp_path / "exists.jsonl"
    output.write_text("keep me\n")
    with pytest.raises(ArchiveError, match="exists"):
        archive(scratch, datetime.now(UTC), output)
    assert output.read_text() == "keep me\n"
    assert _events(scratch) == before


def test_archive_needs_a_role_that_can_see_the_log(scratch: str, tmp_path: Path) -> None:
    # The table's owner without BYPASSRLS sees no event (forced RLS, no
    # policy for it), so it is told what to connect as instead.
    role = f"audit_owner_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(scratch, autocommit=True) as conn:
        conn.execute(f"create role {role} login")
        conn.execute(f"grant usage on schema iam to {role}")
        conn.execute(f"grant select, delete on iam.audit_events to {role}")
    try:
        params = psycopg.conninfo.conninfo_to_dict(scratch)
        params["user"] = role
        as_role = psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v})
        with pytest.raises(ArchiveError, match="BYPASSRLS"):
            archive(as_role, datetime.now(UTC), tmp_path / "never.jsonl")
        assert not (tmp_path / "never.jsonl").exists()
    finally:
        with psycopg.connect(scratch, autocommit=True) as conn:
            conn.execute(f"revoke all on iam.audit_events from {role}")
            conn.execute(f"revoke usage on schema iam from {role}")
            conn.execute(f"drop role {role}")


def test_archive_refuses_a_cutoff_without_time_zone(scratch: str, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="time zone"):
        archive(scratch, datetime(2026, 1, 1), tmp_path / "never.jsonl")
