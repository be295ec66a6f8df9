"""What a request role could do to other tenants with SQL alone, and cannot.

Advisory locks are one namespace for the whole database: only iam_definer
takes them, inside the functions that need them, so a request role cannot
hold another tenant's membership key. Runs where the migrations ran as a
superuser (the only role that may revoke pg_catalog's functions from
PUBLIC); docs/dba.md tells a DBA how to do it elsewhere.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.support.sql import Conn, World, act_as, act_as_anon

ADVISORY = [
    "select pg_advisory_lock(1769107757, 1)",
    "select pg_advisory_lock(42)",
    "select pg_try_advisory_lock(1769107757, 1)",
    "select pg_advisory_lock_shared(1769107757, 1)",
    "select pg_advisory_xact_lock(1769107757, 1)",
    "select pg_try_advisory_xact_lock(42)",
    "select pg_advisory_unlock_all()",
]


def _superuser(conn: Conn) -> bool:
    row = conn.execute(
        "select rolsuper from pg_catalog.pg_roles where rolname = current_user"
    ).fetchone()
    return bool(row and row[0])


@pytest.mark.parametrize("statement", ADVISORY)
@pytest.mark.parametrize("role", ["iam_anon", "iam_authenticated"])
def test_request_roles_cannot_take_advisory_locks(
    conn: Conn, world: World, role: str, statement: str
) -> None:
    if not _superuser(conn):
        pytest.skip("migrated by a non-superuser: the DBA revokes these (docs/dba.md)")
    if role == "iam_anon":
        act_as_anon(conn)
    else:
        act_as(conn, world.a.admin, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_a_member_removal_still_takes_its_lock(conn: Conn, world: World) -> None:
    """The trigger that serialises membership changes locks as iam_definer."""
    act_as(conn, world.a.admin, world.a.org_id)
    removed = conn.execute(
        "delete from iam.organization_memberships where user_id = %s returning 1",
        (world.a.user,),
    ).fetchall()
    assert removed == [(1,)]


def _estimate(conn: Conn, prefix: str) -> int:
    plan = conn.execute(
        "explain (format json) select id from iam.projects where name >= %s and name < %s",
        (prefix, prefix + "~"),
    ).fetchone()
    assert plan is not None
    return int(plan[0][0]["Plan"]["Plan Rows"])


def test_planner_estimates_do_not_reveal_other_tenants_names(conn: Conn, world: World) -> None:
    """EXPLAIN's row estimate is the same for another tenant's frequent prefix and for none."""
    secret = "secret-" + uuid.uuid4().hex
    conn.execute(
        "insert into iam.projects (organization_id, name, created_by_user_id)"
        " select %s, %s || '-' || i, %s from generate_series(1, 500) as i",
        (world.b.org_id, secret, world.b.admin),
    )
    conn.execute("analyze iam.projects")
    act_as(conn, world.a.admin, world.a.org_id)
    assert _estimate(conn, secret) == _estimate(conn, "zz-nothing-" + uuid.uuid4().hex)


# Tenant text, as docs/dba.md ("Planner statistics") lists it.
TENANT_TEXT = {
    ("projects", "name"),
    ("projects", "description"),
    ("organizations", "name"),
    ("users", "email"),
    ("invitations", "email"),
    ("audit_events", "request_id"),
}


def test_tenant_text_keeps_no_planner_statistics(conn: Conn) -> None:
    rows = conn.execute(
        "select c.relname, a.attname from pg_catalog.pg_attribute as a"
        " join pg_catalog.pg_class as c on c.oid = a.attrelid"
        " join pg_catalog.pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = 'iam' and a.attstattarget = 0 and not a.attisdropped"
    ).fetchall()
    assert {(table, column) for table, column in rows} >= TENANT_TEXT
