"""Who a project belongs to, and its name: decided by the database, not the client.

organization_id and created_by_user_id come from the request context (column
defaults); the runtime role has no privilege on either column, so naming
them at all is refused with 42501. Names are unique per organization,
case-insensitively, and a clash tells nothing about other organizations.
"""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

from tests.support.sql import Conn, World, act_as, act_as_owner, ids

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def _projects_of(conn: Conn, org_id: uuid.UUID) -> set[uuid.UUID]:
    act_as_owner(conn)
    return ids(conn, "select id from iam.projects where organization_id = %s", (org_id,))


@pytest.mark.parametrize("member", ["ORG_ADMIN", "ORG_USER"])
def test_database_fills_in_organization_and_creator(conn: Conn, world: World, member: str) -> None:
    user = world.a.admin if member == "ORG_ADMIN" else world.a.user
    act_as(conn, user, world.a.org_id)
    row = conn.execute(
        "insert into iam.projects (name, description) values ('mine', 'd')"
        " returning organization_id, created_by_user_id"
    ).fetchone()
    assert row == (world.a.org_id, user)


@pytest.mark.parametrize("target", ["other_organization", "own_organization"])
def test_member_cannot_insert_a_project_naming_an_organization(
    conn: Conn, world: World, target: str
) -> None:
    org = world.b.org_id if target == "other_organization" else world.a.org_id
    before_b = _projects_of(conn, world.b.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(
            "insert into iam.projects (organization_id, name) values (%s, 'moved')", (org,)
        )
    assert _projects_of(conn, world.b.org_id) == before_b


def test_member_cannot_move_a_project_to_another_organization(conn: Conn, world: World) -> None:
    project = world.a.project_ids[0]
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(
            "update iam.projects set organization_id = %s where id = %s", (world.b.org_id, project)
        )
    assert project in _projects_of(conn, world.a.org_id)


def test_admin_of_both_organizations_cannot_move_a_project_between_them(
    conn: Conn, world: World
) -> None:
    # Even a caller who may write in both organizations moves nothing across.
    act_as_owner(conn)
    conn.execute(
        "insert into iam.organization_memberships (organization_id, user_id, role)"
        " values (%s, %s, 'ORG_ADMIN')",
        (world.b.org_id, world.a.admin),
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(
            "update iam.projects set organization_id = %s where id = %s",
            (world.b.org_id, world.a.project_ids[0]),
        )
    assert world.a.project_ids[0] in _projects_of(conn, world.a.org_id)


@pytest.mark.parametrize("creator", ["colleague", "self"])
def test_member_cannot_insert_a_project_naming_its_creator(
    conn: Conn, world: World, creator: str
) -> None:
    named = world.a.admin if creator == "colleague" else world.a.user
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        act_as(conn, world.a.user, world.a.org_id)
        conn.execute(
            "insert into iam.projects (name, created_by_user_id) values ('forged', %s)", (named,)
        )
    act_as_owner(conn)
    assert conn.execute("select count(*) from iam.projects where name = 'forged'").fetchone() == (
        0,
    )


def test_member_cannot_change_a_projects_creator(conn: Conn, world: World) -> None:
    project = world.a.project_ids[0]
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(
            "update iam.projects set created_by_user_id = %s where id = %s", (world.a.user, project)
        )
    act_as_owner(conn)
    assert conn.execute(
        "select created_by_user_id from iam.projects where id = %s", (project,)
    ).fetchone() == (world.a.admin,)


def test_member_cannot_set_timestamps_or_id_of_a_project(conn: Conn, world: World) -> None:
    for column, value in (("id", "gen_random_uuid()"), ("created_at", "now() - interval '1 year'")):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            act_as(conn, world.a.admin, world.a.org_id)
            conn.execute(f"insert into iam.projects (name, {column}) values ('x', {value})")


# -------------------------------------------------------------------- names


def _create(conn: Conn, user: uuid.UUID, org: uuid.UUID, name: str) -> None:
    act_as(conn, user, org)
    conn.execute("insert into iam.projects (name) values (%s)", (name,))


@pytest.mark.parametrize("clash", ["alpha", "ALPHA", "Alpha"])
def test_project_name_is_unique_per_organization_ignoring_case(
    conn: Conn, world: World, clash: str
) -> None:
    _create(conn, world.a.admin, world.a.org_id, "Alpha")
    with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
        _create(conn, world.a.user, world.a.org_id, clash)


def test_renaming_onto_an_existing_name_is_a_unique_violation(conn: Conn, world: World) -> None:
    _create(conn, world.a.admin, world.a.org_id, "Alpha")
    with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
        act_as(conn, world.a.user, world.a.org_id)
        conn.execute(
            "update iam.projects set name = 'ALPHA' where id = %s", (world.a.project_ids[0],)
        )


def test_same_project_name_in_another_organization_is_fine(conn: Conn, world: World) -> None:
    _create(conn, world.b.admin, world.b.org_id, "Alpha")
    _create(conn, world.a.admin, world.a.org_id, "alpha")
    act_as_owner(conn)
    assert conn.execute(
        "select count(*) from iam.projects where lower(name) = 'alpha'"
        " and organization_id in (%s, %s)",
        (world.a.org_id, world.b.org_id),
    ).fetchone() == (2,)


def test_name_clash_reveals_nothing_about_other_organizations(conn: Conn, world: World) -> None:
    # B has the same name (and another project), so a leaky error could name them.
    _create(conn, world.b.admin, world.b.org_id, "Shared")
    act_as_owner(conn)
    b_names = {
        str(name)
        for (name,) in conn.execute(
            "select name from iam.projects where organization_id = %s", (world.b.org_id,)
        ).fetchall()
    }
    b_org_name = conn.execute(
        "select name from iam.organizations where id = %s", (world.b.org_id,)
    ).fetchone()
    assert b_org_name is not None

    _create(conn, world.a.admin, world.a.org_id, "Shared")
    with pytest.raises(psycopg.errors.UniqueViolation) as excinfo, conn.transaction():
        _create(conn, world.a.user, world.a.org_id, "SHARED")

    diag = excinfo.value.diag
    fields = [
        str(excinfo.value),
        diag.message_primary,
        diag.message_detail,
        diag.message_hint,
        diag.context,
        diag.internal_query,
        diag.constraint_name,
        diag.table_name,
        diag.column_name,
    ]
    text = "\n".join(f for f in fields if f)
    assert str(world.b.org_id) not in text
    assert b_org_name[0] not in text
    assert {n for n in b_names if n != "Shared" and n in text} == set()
    assert {m.lower() for m in UUID_PATTERN.findall(text)} <= {str(world.a.org_id)}
