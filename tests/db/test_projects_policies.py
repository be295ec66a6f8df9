"""iam.projects as each actor: what README §5's role table allows happens, nothing else.

Every cell of the matrix is its own test id. The target rows belong to
organization A; a refused write is checked afterwards as the owner, who
bypasses RLS, so "unchanged" means unchanged in the table, not merely hidden.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.support.sql import (
    ACTORS,
    DELETE_PROJECT,
    DELETE_PROJECTS,
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
MAY_CREATE = {ORG_ADMIN, ORG_USER}
MAY_UPDATE = {ORG_ADMIN, ORG_USER}
MAY_DELETE = {ORG_ADMIN}


def _cases(allowed: set[str], yes: str, no: str) -> list[Any]:
    return [
        pytest.param(actor, actor in allowed, id=f"{actor}-{yes if actor in allowed else no}")
        for actor in ACTORS
    ]


def _project_row(conn: Conn, project_id: uuid.UUID) -> tuple[Any, ...] | None:
    act_as_owner(conn)
    return conn.execute("select * from iam.projects where id = %s", (project_id,)).fetchone()


@pytest.mark.parametrize(
    ("actor", "sees"), [pytest.param(a, s, id=f"{a}-sees_{s}") for a, s in SEES.items()]
)
def test_project_select(conn: Conn, world: World, actor: str, sees: str) -> None:
    expected = {"A": set(world.a.project_ids), "B": set(world.b.project_ids), "nothing": set()}
    become(conn, world, actor)
    assert ids(conn, "select id from iam.projects") == expected[sees]


@pytest.mark.parametrize(("actor", "allowed"), _cases(MAY_CREATE, "creates", "refused_42501"))
def test_project_insert(conn: Conn, world: World, actor: str, allowed: bool) -> None:
    name = f"new {uuid.uuid4().hex[:8]}"
    if actor == OTHER_ORG_ADMIN:
        # Acting from B, the only way to reach A is to name it.
        statement = "insert into iam.projects (organization_id, name) values (%s, %s) returning id"
        params: tuple[object, ...] = (world.a.org_id, name)
    else:
        statement = "insert into iam.projects (name) values (%s) returning id"
        params = (name,)

    if allowed:
        become(conn, world, actor)
        row = conn.execute(statement, params).fetchone()
        assert row is not None
        act_as_owner(conn)
        created = conn.execute(
            "select organization_id, created_by_user_id, name from iam.projects where id = %s",
            (row[0],),
        ).fetchone()
        assert created == (world.a.org_id, actor_user(world, actor), name)
        return

    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        become(conn, world, actor)
        conn.execute(statement, params)
    act_as_owner(conn)
    assert conn.execute(
        "select count(*) from iam.projects where name = %s", (name,)
    ).fetchone() == (0,)
    assert ids(
        conn, "select id from iam.projects where organization_id = %s", (world.a.org_id,)
    ) == set(world.a.project_ids)


@pytest.mark.parametrize(("actor", "allowed"), _cases(MAY_UPDATE, "updates", "0_rows"))
def test_project_update(conn: Conn, world: World, actor: str, allowed: bool) -> None:
    target = world.a.project_ids[0]
    before = _project_row(conn, target)
    become(conn, world, actor)
    cursor = conn.execute(
        "update iam.projects set name = 'renamed', description = 'changed' where id = %s",
        (target,),
    )
    if allowed:
        assert cursor.rowcount == 1
        act_as_owner(conn)
        assert conn.execute(
            "select name, description from iam.projects where id = %s", (target,)
        ).fetchone() == ("renamed", "changed")
    else:
        assert cursor.rowcount == 0
        assert _project_row(conn, target) == before


@pytest.mark.parametrize(("actor", "allowed"), _cases(MAY_DELETE, "deletes", "0_rows"))
def test_project_delete(conn: Conn, world: World, actor: str, allowed: bool) -> None:
    target = world.a.project_ids[0]
    before = _project_row(conn, target)
    become(conn, world, actor)
    cursor = conn.execute(DELETE_PROJECT, (target,))
    assert cursor.rowcount == (1 if allowed else 0)
    assert _project_row(conn, target) == (None if allowed else before)


# ------------------------------------------------- a query that forgot its WHERE


def test_plain_delete_is_refused_to_request_roles(conn: Conn, world: World) -> None:
    """Deletes go through iam.delete_project(): a DELETE grant would allow LOCK TABLE."""
    act_as(conn, world.a.admin, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("delete from iam.projects")


def test_admin_deleting_every_project_id_removes_only_own_organization_projects(
    conn: Conn, world: World
) -> None:
    act_as(conn, world.a.admin, world.a.org_id)
    every = world.a.project_ids + world.b.project_ids
    assert conn.execute(DELETE_PROJECTS, (every,)).rowcount == len(world.a.project_ids)
    act_as_owner(conn)
    assert ids(
        conn, "select id from iam.projects where organization_id = %s", (world.b.org_id,)
    ) == (set(world.b.project_ids))


def test_user_update_without_where_changes_only_own_organization_projects(
    conn: Conn, world: World
) -> None:
    act_as(conn, world.a.user, world.a.org_id)
    assert conn.execute("update iam.projects set description = 'mine'").rowcount == len(
        world.a.project_ids
    )
    act_as_owner(conn)
    rows = conn.execute(
        "select description from iam.projects where organization_id = %s", (world.b.org_id,)
    ).fetchall()
    assert rows and all(description is None for (description,) in rows)


def test_read_only_member_cannot_delete_project(conn: Conn, world: World) -> None:
    act_as(conn, world.a.read_only, world.a.org_id)
    assert conn.execute(DELETE_PROJECTS, (world.a.project_ids,)).rowcount == 0
    act_as_owner(conn)
    assert ids(
        conn, "select id from iam.projects where organization_id = %s", (world.a.org_id,)
    ) == (set(world.a.project_ids))


def test_inactive_admin_sees_and_changes_nothing(conn: Conn, world: World) -> None:
    act_as_owner(conn)
    conn.execute("update iam.users set is_active = false where id = %s", (world.a.admin,))
    act_as(conn, world.a.admin, world.a.org_id)
    assert ids(conn, "select id from iam.projects") == set()
    assert conn.execute(DELETE_PROJECTS, (world.a.project_ids,)).rowcount == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("insert into iam.projects (name) values ('from an inactive user')")
