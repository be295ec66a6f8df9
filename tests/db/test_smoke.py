from __future__ import annotations

import psycopg
import pytest

from tests.db.helpers import act_as, make_tenant


def test_member_reads_only_their_organization_projects(conn: psycopg.Connection) -> None:
    a = make_tenant(conn, "a")
    b = make_tenant(conn, "b")
    act_as(conn, a.read_only, a.org_id)
    rows = conn.execute("select id from iam.projects").fetchall()
    assert sorted(r[0] for r in rows) == sorted(a.project_ids)
    assert not set(b.project_ids) & {r[0] for r in rows}


def test_read_only_member_cannot_create_project(conn: psycopg.Connection) -> None:
    a = make_tenant(conn, "a")
    act_as(conn, a.read_only, a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("insert into iam.projects (name) values ('nope')")
