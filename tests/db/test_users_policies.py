"""iam.users as each actor.

A member sees themself and the members of the active organization; nobody
else. The runtime role never writes users (registration and password
upgrades go through definer functions), so every write is refused with
42501, and the password_hash column is not readable at all.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.support.sql import (
    ACTORS,
    EMPTY_CONTEXT,
    MEMBERS_OF_A,
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
    ORG_ADMIN: "members_of_A",
    ORG_USER: "members_of_A",
    READ_ONLY: "members_of_A",
    OTHER_ORG_ADMIN: "members_of_B",
    OTHER_ORG_ADMIN_CLAIMING_A: "only_themself",
    NON_MEMBER: "only_themself",
    NO_CONTEXT: "nothing",
    EMPTY_CONTEXT: "nothing",
}


def _user_row(conn: Conn, user_id: uuid.UUID) -> tuple[Any, ...] | None:
    act_as_owner(conn)
    return conn.execute("select * from iam.users where id = %s", (user_id,)).fetchone()


@pytest.mark.parametrize(
    ("actor", "sees"), [pytest.param(a, s, id=f"{a}-sees_{s}") for a, s in SEES.items()]
)
def test_user_select(conn: Conn, world: World, actor: str, sees: str) -> None:
    a, b = world.a, world.b
    expected = {
        "members_of_A": {a.admin, a.user, a.read_only, world.extra},
        "members_of_B": {b.admin, b.user, b.read_only},
        "only_themself": {actor_user(world, actor)},
        "nothing": set(),
    }[sees]
    become(conn, world, actor)
    assert ids(conn, "select id from iam.users") == expected


@pytest.mark.parametrize("actor", ACTORS, ids=[f"{a}-refused_42501" for a in ACTORS])
def test_user_insert(conn: Conn, world: World, actor: str) -> None:
    email = f"direct-{uuid.uuid4().hex[:8]}@example.com"
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        become(conn, world, actor)
        conn.execute("insert into iam.users (email, password_hash) values (%s, 'x')", (email,))
    act_as_owner(conn)
    assert conn.execute("select count(*) from iam.users where email = %s", (email,)).fetchone() == (
        0,
    )


@pytest.mark.parametrize("actor", ACTORS, ids=[f"{a}-refused_42501" for a in ACTORS])
def test_user_update(conn: Conn, world: World, actor: str) -> None:
    # The actor's own row where there is one: not even oneself is writable here.
    target = actor_user(world, actor) or world.a.user
    before = _user_row(conn, target)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        become(conn, world, actor)
        conn.execute("update iam.users set is_active = false where id = %s", (target,))
    assert _user_row(conn, target) == before


@pytest.mark.parametrize("actor", ACTORS, ids=[f"{a}-refused_42501" for a in ACTORS])
def test_user_delete(conn: Conn, world: World, actor: str) -> None:
    before = _user_row(conn, world.a.read_only)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        become(conn, world, actor)
        conn.execute("delete from iam.users where id = %s", (world.a.read_only,))
    assert before is not None
    assert _user_row(conn, world.a.read_only) == before


@pytest.mark.parametrize("actor", MEMBERS_OF_A)
def test_member_cannot_read_password_hashes(conn: Conn, world: World, actor: str) -> None:
    become(conn, world, actor)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select password_hash from iam.users")


def test_member_sees_colleagues_emails_but_not_other_tenants(conn: Conn, world: World) -> None:
    act_as_owner(conn)
    row = conn.execute("select email from iam.users where id = %s", (world.b.admin,)).fetchone()
    assert row is not None
    act_as(conn, world.a.read_only, world.a.org_id)
    assert conn.execute(
        "select count(*) from iam.users where email = %s", (row[0],)
    ).fetchone() == (0,)
