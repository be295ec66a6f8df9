"""iam.organization_memberships as each actor: the member rows of the role table.

Add a member = INSERT (refused to everyone: members join by accepting an
invitation), change a role = UPDATE, remove a member = DELETE, all
aimed at `extra`, an ORG_USER of A who is not the actor. Leaving = DELETE of
one's own membership, allowed for every role.
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
    REMOVE_MEMBER,
    Conn,
    World,
    act_as,
    act_as_owner,
    add_member,
    become,
    ids,
    make_tenant,
    make_user,
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
ADMIN_ONLY = {ORG_ADMIN}


def _cases(allowed: set[str], yes: str, no: str) -> list[Any]:
    return [
        pytest.param(actor, actor in allowed, id=f"{actor}-{yes if actor in allowed else no}")
        for actor in ACTORS
    ]


def _members(conn: Conn, org_id: uuid.UUID) -> set[uuid.UUID]:
    return ids(
        conn,
        "select user_id from iam.organization_memberships where organization_id = %s",
        (org_id,),
    )


def _membership(conn: Conn, org_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Any, ...] | None:
    act_as_owner(conn)
    return conn.execute(
        "select * from iam.organization_memberships where organization_id = %s and user_id = %s",
        (org_id, user_id),
    ).fetchone()


@pytest.mark.parametrize(
    ("actor", "sees"), [pytest.param(a, s, id=f"{a}-sees_{s}") for a, s in SEES.items()]
)
def test_membership_select(conn: Conn, world: World, actor: str, sees: str) -> None:
    act_as_owner(conn)
    expected = {
        "A": _members(conn, world.a.org_id),
        "B": _members(conn, world.b.org_id),
        "nothing": set(),
    }[sees]
    assert sees == "nothing" or len(expected) >= 3
    become(conn, world, actor)
    assert ids(conn, "select user_id from iam.organization_memberships") == expected


# Nobody joins without consent: no request role inserts a membership, not
# even an ORG_ADMIN. Members join by accepting an invitation
# (test_invitations_policies.py).
@pytest.mark.parametrize(("actor", "allowed"), _cases(set(), "adds", "refused_42501"))
def test_membership_insert_adds_member(conn: Conn, world: World, actor: str, allowed: bool) -> None:
    newcomer = make_user(conn, "newcomer")
    if actor == OTHER_ORG_ADMIN:
        statement = (
            "insert into iam.organization_memberships (organization_id, user_id, role)"
            " values (%s, %s, 'ORG_USER')"
        )
        params: tuple[object, ...] = (world.a.org_id, newcomer)
    else:
        statement = (
            "insert into iam.organization_memberships (user_id, role) values (%s, 'ORG_USER')"
        )
        params = (newcomer,)

    if allowed:
        become(conn, world, actor)
        conn.execute(statement, params)
    else:
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            become(conn, world, actor)
            conn.execute(statement, params)

    act_as_owner(conn)
    rows = conn.execute(
        "select organization_id, role::text from iam.organization_memberships where user_id = %s",
        (newcomer,),
    ).fetchall()
    assert rows == ([(world.a.org_id, "ORG_USER")] if allowed else [])


@pytest.mark.parametrize(("actor", "allowed"), _cases(ADMIN_ONLY, "changes_role", "0_rows"))
def test_membership_update_changes_role(
    conn: Conn, world: World, actor: str, allowed: bool
) -> None:
    before = _membership(conn, world.a.org_id, world.extra)
    assert before is not None
    become(conn, world, actor)
    cursor = conn.execute(
        "update iam.organization_memberships set role = 'READ_ONLY'"
        " where organization_id = %s and user_id = %s",
        (world.a.org_id, world.extra),
    )
    assert cursor.rowcount == (1 if allowed else 0)
    after = _membership(conn, world.a.org_id, world.extra)
    if allowed:
        assert after is not None and after[3] == "READ_ONLY"
    else:
        assert after == before


@pytest.mark.parametrize(("actor", "allowed"), _cases(ADMIN_ONLY, "removes", "0_rows"))
def test_membership_delete_removes_member(
    conn: Conn, world: World, actor: str, allowed: bool
) -> None:
    before = _membership(conn, world.a.org_id, world.extra)
    assert before is not None
    become(conn, world, actor)
    cursor = conn.execute(REMOVE_MEMBER, (world.extra,))
    assert cursor.rowcount == (1 if allowed else 0)
    assert _membership(conn, world.a.org_id, world.extra) == (None if allowed else before)


# ------------------------------------------------------------------ leaving


@pytest.mark.parametrize("role", [ORG_ADMIN, ORG_USER, READ_ONLY])
def test_member_of_every_role_can_leave(conn: Conn, world: World, role: str) -> None:
    leaver = {ORG_ADMIN: world.a.admin, ORG_USER: world.a.user, READ_ONLY: world.a.read_only}[role]
    if role == ORG_ADMIN:
        # Someone must stay admin: the last ORG_ADMIN may not leave (tested below).
        add_member(conn, world.a.org_id, make_user(conn, "second-admin"), "ORG_ADMIN")
    act_as(conn, leaver, world.a.org_id)
    cursor = conn.execute(REMOVE_MEMBER, (leaver,))
    assert cursor.rowcount == 1
    assert _membership(conn, world.a.org_id, leaver) is None
    act_as(conn, leaver, world.a.org_id)
    assert ids(conn, "select id from iam.projects") == set()


def test_leaving_one_organization_keeps_the_others(conn: Conn, world: World) -> None:
    add_member(conn, world.b.org_id, world.a.read_only, "ORG_USER")
    act_as(conn, world.a.read_only, world.a.org_id)
    assert conn.execute(REMOVE_MEMBER, (world.a.read_only,)).rowcount == 1
    assert _membership(conn, world.b.org_id, world.a.read_only) is not None


def test_last_admin_cannot_leave(conn: Conn, world: World) -> None:
    with pytest.raises(psycopg.Error) as excinfo, conn.transaction():
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(REMOVE_MEMBER, (world.a.admin,))
    assert excinfo.value.sqlstate == "IAM01"
    assert _membership(conn, world.a.org_id, world.a.admin) is not None


def test_last_admin_cannot_demote_themself(conn: Conn, world: World) -> None:
    with pytest.raises(psycopg.Error) as excinfo, conn.transaction():
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(
            "update iam.organization_memberships set role = 'ORG_USER' where user_id = %s",
            (world.a.admin,),
        )
    assert excinfo.value.sqlstate == "IAM01"
    row = _membership(conn, world.a.org_id, world.a.admin)
    assert row is not None and row[3] == "ORG_ADMIN"


@pytest.mark.parametrize(
    "statement",
    [
        # Everyone else first, then the caller (who is no admin once removed).
        pytest.param(
            "select r.deleted from (select user_id from iam.organization_memberships"
            " order by user_id = (select iam.current_user_id())) as m"
            " cross join lateral iam.remove_member(m.user_id) as r",
            id="remove_everyone",
        ),
        pytest.param(
            "update iam.organization_memberships set role = 'READ_ONLY'", id="demote_everyone"
        ),
    ],
)
def test_no_single_statement_removes_every_admin(conn: Conn, world: World, statement: str) -> None:
    add_member(conn, world.a.org_id, make_user(conn, "second-admin"), "ORG_ADMIN")
    with pytest.raises(psycopg.Error) as excinfo, conn.transaction():
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(statement)
    assert excinfo.value.sqlstate == "IAM01"
    act_as_owner(conn)
    assert conn.execute(
        "select count(*) from iam.organization_memberships"
        " where organization_id = %s and role = 'ORG_ADMIN'",
        (world.a.org_id,),
    ).fetchone() == (2,)


def test_admin_can_demote_another_admin_while_one_remains(conn: Conn, world: World) -> None:
    second = make_user(conn, "second-admin")
    add_member(conn, world.a.org_id, second, "ORG_ADMIN")
    act_as(conn, world.a.admin, world.a.org_id)
    cursor = conn.execute(
        "update iam.organization_memberships set role = 'READ_ONLY' where user_id = %s", (second,)
    )
    assert cursor.rowcount == 1


# ------------------------------------------------------- no self-promotion


@pytest.mark.parametrize("role", [ORG_USER, READ_ONLY])
def test_non_admin_cannot_promote_themself(conn: Conn, world: World, role: str) -> None:
    member = world.a.user if role == ORG_USER else world.a.read_only
    act_as(conn, member, world.a.org_id)
    cursor = conn.execute(
        "update iam.organization_memberships set role = 'ORG_ADMIN' where user_id = %s", (member,)
    )
    assert cursor.rowcount == 0
    row = _membership(conn, world.a.org_id, member)
    assert row is not None and row[3] == role


@pytest.mark.parametrize("column", ["organization_id", "user_id"])
def test_admin_cannot_move_a_membership(conn: Conn, world: World, column: str) -> None:
    target = world.b.org_id if column == "organization_id" else world.outsider
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(
            f"update iam.organization_memberships set {column} = %s where user_id = %s",
            (target, world.extra),
        )
    assert _membership(conn, world.a.org_id, world.extra) is not None


def test_admin_cannot_add_member_to_another_organization_by_naming_it(
    conn: Conn, world: World
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(
            "insert into iam.organization_memberships (organization_id, user_id, role)"
            " values (%s, %s, 'ORG_ADMIN')",
            (world.b.org_id, world.a.admin),
        )
    assert _membership(conn, world.b.org_id, world.a.admin) is None


def test_admin_adding_an_existing_member_is_refused_too(conn: Conn, world: World) -> None:
    act_as(conn, world.a.admin, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "insert into iam.organization_memberships (user_id, role) values (%s, 'ORG_USER')",
            (world.a.read_only,),
        )


def test_admin_of_both_organizations_changes_only_the_active_one(conn: Conn, world: World) -> None:
    c = make_tenant(conn, "c", projects=0)
    add_member(conn, c.org_id, world.a.admin, "ORG_ADMIN")
    add_member(conn, c.org_id, world.extra, "ORG_USER")
    act_as(conn, world.a.admin, c.org_id)
    cursor = conn.execute(
        "update iam.organization_memberships set role = 'READ_ONLY' where user_id = %s",
        (world.extra,),
    )
    assert cursor.rowcount == 1
    row = _membership(conn, world.a.org_id, world.extra)
    assert row is not None and row[3] == "ORG_USER"
