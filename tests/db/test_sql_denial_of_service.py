"""What a request role could do to other tenants with SQL alone, and cannot.

Advisory locks are one namespace for the whole database: only iam_definer
takes them, inside the functions that need them, so a request role cannot
hold another tenant's membership key. Runs where the migrations ran as a
superuser (the only role that may revoke pg_catalog's functions from
PUBLIC); docs/dba.md tells a DBA how to do it elsewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from service.db.login_role import ensure_api_role
from tests.support.database import TestDatabase
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
        "select * from iam.remove_member(%s)",
        (world.a.user,),
    ).fetchall()
    assert removed == [(True, True)]


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


# --------------------------------------------------------------- LOCK TABLE
# Every lock mode above ROW EXCLUSIVE conflicts with ROW EXCLUSIVE (every
# INSERT, UPDATE and DELETE) and from SHARE on with SHARE ROW EXCLUSIVE, or
# with ACCESS SHARE (every SELECT). PostgreSQL lets any role with table-level
# UPDATE, DELETE, TRUNCATE (or, from 17, MAINTAIN) take any of them; column
# grants do not count. ACCESS SHARE, ROW SHARE and ROW EXCLUSIVE block no
# other tenant's reads or writes, only DDL.
BLOCKING_LOCK_MODES = [
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
]
TENANT_ROLES = ["ORG_ADMIN", "ORG_USER", "READ_ONLY"]


def _iam_tables(conn: Conn) -> list[str]:
    rows = conn.execute(
        "select 'iam.' || quote_ident(tablename) from pg_catalog.pg_tables"
        " where schemaname = 'iam' order by 1"
    ).fetchall()
    return [str(name) for (name,) in rows]


def _refused_locks(conn: Conn, mode: str) -> dict[str, str]:
    """For each iam table, what LOCK ... IN <mode> MODE NOWAIT answered."""
    answers: dict[str, str] = {}
    for table in _iam_tables(conn):
        try:
            with conn.transaction():
                conn.execute(f"lock table {table} in {mode} mode nowait")
            answers[table] = "granted"
        except psycopg.Error as error:
            answers[table] = str(error.sqlstate)
    return answers


def _member(world: World, role: str) -> uuid.UUID:
    return {"ORG_ADMIN": world.a.admin, "ORG_USER": world.a.user, "READ_ONLY": world.a.read_only}[
        role
    ]


@pytest.mark.parametrize("mode", BLOCKING_LOCK_MODES)
@pytest.mark.parametrize("role", TENANT_ROLES)
def test_members_cannot_lock_tables_against_other_tenants(
    conn: Conn, world: World, role: str, mode: str
) -> None:
    tables = _iam_tables(conn)
    act_as(conn, _member(world, role), world.a.org_id)
    assert _refused_locks(conn, mode) == dict.fromkeys(tables, "42501")


@pytest.mark.parametrize("mode", BLOCKING_LOCK_MODES)
def test_anonymous_requests_cannot_lock_tables(conn: Conn, mode: str) -> None:
    tables = _iam_tables(conn)
    act_as_anon(conn)
    assert _refused_locks(conn, mode) == dict.fromkeys(tables, "42501")


@pytest.fixture
def api_login_role(database: TestDatabase) -> Iterator[str]:
    """A login role made the way `db migrate` makes rls_iam_api."""
    name = f"rls_iam_api_{uuid.uuid4().hex[:8]}"
    ensure_api_role(database.conninfo, uuid.uuid4().hex, name)
    try:
        yield name
    finally:
        with psycopg.connect(database.conninfo, autocommit=True) as owner:
            owner.execute(f"drop owned by {name}")
            owner.execute(f"drop role if exists {name}")


@pytest.mark.parametrize("mode", BLOCKING_LOCK_MODES)
def test_the_api_login_role_cannot_lock_tables(conn: Conn, api_login_role: str, mode: str) -> None:
    tables = _iam_tables(conn)
    conn.execute(f"set local role {api_login_role}")
    assert _refused_locks(conn, mode) == dict.fromkeys(tables, "42501")


def test_a_members_writes_hold_no_lock_that_blocks_other_tenants(conn: Conn, world: World) -> None:
    """Reads take ACCESS SHARE, writes ROW EXCLUSIVE (a delete through its function
    too): they block DDL, no other tenant's reads or writes."""
    act_as(conn, world.a.admin, world.a.org_id)
    conn.execute("insert into iam.projects (name) values ('locks')")
    conn.execute(
        "update iam.projects set description = 'locks' where id = %s", (world.a.project_ids[0],)
    )
    assert conn.execute(
        "select * from iam.delete_project(%s)", (world.a.project_ids[1],)
    ).fetchone() == (True, True)
    removed = conn.execute("select * from iam.remove_member(%s)", (world.a.user,)).fetchone()
    assert removed == (True, True)
    modes = conn.execute(
        "select distinct l.mode from pg_catalog.pg_locks as l"
        " join pg_catalog.pg_class as c on c.oid = l.relation"
        " where l.pid = pg_catalog.pg_backend_pid() and c.relnamespace = 'iam'::regnamespace"
        " and c.relkind in ('r', 'p')"
    ).fetchall()
    assert {mode for (mode,) in modes} <= {"AccessShareLock", "RowShareLock", "RowExclusiveLock"}
    assert ("RowExclusiveLock",) in modes
