"""iam.organizations as each actor.

Members read only their active organization. Only its ORG_ADMIN renames
(UPDATE of name) or deletes it; for anyone else those statements change
nothing, and every other column is refused with 42501. Nobody inserts: a new
organization is created through iam.create_organization(), which only an
ORG_ADMIN may call successfully (README, section 5). The rename and delete
matrix per actor is in test_invitations_policies.py, beside the cascade.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.support.sql import (
    ACTORS,
    EMPTY_CONTEXT,
    NO_CONTEXT,
    NON_MEMBER,
    ORG_ADMIN,
    ORG_USER,
    OTHER_ORG_ADMIN,
    OTHER_ORG_ADMIN_CLAIMING_A,
    READ_ONLY,
    Conn,
    World,
    act_as,
    act_as_owner,
    actor_user,
    become,
    ids,
)

SEES = {
    ORG_ADMIN: "A",
    ORG_USER: "A",
    READ_ONLY: "A",
    OTHER_ORG_ADMIN: "B",
    OTHER_ORG_ADMIN_CLAIMING_A: "nothing",
    NON_MEMBER: "nothing",
    NO_CONTEXT: "nothing",
    EMPTY_CONTEXT: "nothing",
}
# An admin of B creating an organization from B is an ORG_ADMIN of its active
# organization: allowed. Everyone else is refused.
MAY_CREATE_ORGANIZATION = {ORG_ADMIN, OTHER_ORG_ADMIN}


def _org_row(conn: Conn, org_id: uuid.UUID) -> tuple[Any, ...] | None:
    act_as_owner(conn)
    return conn.execute("select * from iam.organizations where id = %s", (org_id,)).fetchone()


@pytest.mark.parametrize(
    ("actor", "sees"), [pytest.param(a, s, id=f"{a}-sees_{s}") for a, s in SEES.items()]
)
def test_organization_select(conn: Conn, world: World, actor: str, sees: str) -> None:
    expected = {"A": {world.a.org_id}, "B": {world.b.org_id}, "nothing": set()}[sees]
    become(conn, world, actor)
    assert ids(conn, "select id from iam.organizations") == expected


@pytest.mark.parametrize("actor", ACTORS, ids=[f"{a}-refused_42501" for a in ACTORS])
def test_organization_insert(conn: Conn, world: World, actor: str) -> None:
    name = f"direct {uuid.uuid4().hex[:8]}"
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        become(conn, world, actor)
        conn.execute("insert into iam.organizations (name) values (%s)", (name,))
    act_as_owner(conn)
    assert conn.execute(
        "select count(*) from iam.organizations where name = %s", (name,)
    ).fetchone() == (0,)


@pytest.mark.parametrize("actor", ACTORS, ids=[f"{a}-refused_42501" for a in ACTORS])
def test_organization_columns_other_than_name_are_never_updated(
    conn: Conn, world: World, actor: str
) -> None:
    before = _org_row(conn, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        become(conn, world, actor)
        conn.execute(
            "update iam.organizations set created_at = now() where id = %s", (world.a.org_id,)
        )
    assert _org_row(conn, world.a.org_id) == before


@pytest.mark.parametrize("actor", ACTORS)
def test_organization_rename_by_anyone_but_its_admin_changes_nothing(
    conn: Conn, world: World, actor: str
) -> None:
    before = _org_row(conn, world.a.org_id)
    become(conn, world, actor)
    changed = conn.execute(
        "update iam.organizations set name = 'renamed' where id = %s", (world.a.org_id,)
    ).rowcount
    assert changed == (1 if actor == ORG_ADMIN else 0)
    if actor != ORG_ADMIN:
        assert _org_row(conn, world.a.org_id) == before


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        pytest.param(
            a,
            a in MAY_CREATE_ORGANIZATION,
            id=f"{a}-{'creates' if a in MAY_CREATE_ORGANIZATION else 'refused_42501'}",
        )
        for a in ACTORS
    ],
)
def test_create_organization(conn: Conn, world: World, actor: str, allowed: bool) -> None:
    name = f"created {uuid.uuid4().hex[:8]}"
    if not allowed:
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            become(conn, world, actor)
            conn.execute("select * from iam.create_organization(%s)", (name,))
        act_as_owner(conn)
        assert conn.execute(
            "select count(*) from iam.organizations where name = %s", (name,)
        ).fetchone() == (0,)
        return

    become(conn, world, actor)
    row = conn.execute("select id, name, role from iam.create_organization(%s)", (name,)).fetchone()
    assert row is not None
    new_org, returned_name, role = row
    assert (returned_name, role) == (name, "ORG_ADMIN")
    act_as_owner(conn)
    members = conn.execute(
        "select user_id, role::text from iam.organization_memberships where organization_id = %s",
        (new_org,),
    ).fetchall()
    assert members == [(actor_user(world, actor), "ORG_ADMIN")]


def test_created_organization_is_listed_but_not_active(conn: Conn, world: World) -> None:
    act_as(conn, world.a.admin, world.a.org_id)
    row = conn.execute("select id from iam.create_organization('second home')").fetchone()
    assert row is not None
    assert ids(conn, "select id from iam.organizations") == {world.a.org_id}
    assert ids(conn, "select id from iam.my_organizations(100)") == {world.a.org_id, row[0]}


def test_create_organization_trims_the_name(conn: Conn, world: World) -> None:
    act_as(conn, world.a.admin, world.a.org_id)
    row = conn.execute("select name from iam.create_organization('  Padded  ')").fetchone()
    assert row == ("Padded",)
