"""The caller's role is read from the membership table on every transaction.

The context (the token) carries only a user and an organization, so a
demotion, promotion, removal or deactivation committed by someone else
applies to the very next transaction of a connection that still presents
the same, old context.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.support.sql import (
    DELETE_PROJECT,
    DELETE_PROJECTS,
    REMOVE_MEMBER,
    Committed,
    Conn,
    SeededOrganization,
    act_as,
    connect,
    ids,
)


def _role(conn: Conn) -> str | None:
    row = conn.execute("select iam.member_role()").fetchone()
    assert row is not None
    return None if row[0] is None else str(row[0])


def _change_role(
    conninfo: str, admin: SeededOrganization, user_id: uuid.UUID, role: str | None
) -> None:
    """An ORG_ADMIN of the tenant changes (or, with None, removes) a membership, and commits."""
    with connect(conninfo) as conn:
        act_as(conn, admin.admin, admin.org_id)
        if role is None:
            cursor = conn.execute(REMOVE_MEMBER, (user_id,))
        else:
            cursor = conn.execute(
                "update iam.organization_memberships set role = %s where user_id = %s",
                (role, user_id),
            )
        assert cursor.rowcount == 1
        conn.commit()


def _can_create(conn: Conn) -> bool:
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("insert into iam.projects (name) values (%s)", (uuid.uuid4().hex,))
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def _can_delete(conn: Conn, project: uuid.UUID) -> bool:
    with conn.transaction(force_rollback=True):
        return conn.execute(DELETE_PROJECT, (project,)).rowcount == 1


@pytest.mark.parametrize(
    ("old", "new", "may_create", "may_delete"),
    [
        pytest.param("ORG_ADMIN", "READ_ONLY", False, False, id="admin_to_read_only"),
        pytest.param("ORG_ADMIN", "ORG_USER", True, False, id="admin_to_user"),
        pytest.param("ORG_USER", "READ_ONLY", False, False, id="user_to_read_only"),
        pytest.param("READ_ONLY", "ORG_USER", True, False, id="read_only_to_user"),
        pytest.param("ORG_USER", "ORG_ADMIN", True, True, id="user_to_admin"),
    ],
)
def test_role_change_applies_to_the_next_transaction_with_the_same_context(
    committed_data: Committed, old: str, new: str, may_create: bool, may_delete: bool
) -> None:
    a = committed_data.tenant("rolechange")
    y = committed_data.member(a.org_id, old, "y")
    with connect(committed_data.conninfo) as y_conn:
        act_as(y_conn, y, a.org_id)
        assert _role(y_conn) == old
        y_conn.commit()

        _change_role(committed_data.conninfo, a, y, new)

        act_as(y_conn, y, a.org_id)
        assert _role(y_conn) == new
        assert _can_create(y_conn) is may_create
        assert _can_delete(y_conn, a.project_ids[0]) is may_delete
        assert ids(y_conn, "select id from iam.projects") == set(a.project_ids)
        y_conn.commit()


def test_removed_member_sees_nothing_from_the_next_transaction(
    committed_data: Committed,
) -> None:
    a = committed_data.tenant("removal")
    y = committed_data.member(a.org_id, "ORG_ADMIN", "y")
    with connect(committed_data.conninfo) as y_conn:
        act_as(y_conn, y, a.org_id)
        assert ids(y_conn, "select id from iam.projects") == set(a.project_ids)
        y_conn.commit()

        _change_role(committed_data.conninfo, a, y, None)

        act_as(y_conn, y, a.org_id)
        assert _role(y_conn) is None
        for table in ("projects", "organization_memberships", "organizations"):
            assert y_conn.execute(f"select id from iam.{table}").fetchall() == [], table
        assert y_conn.execute(DELETE_PROJECTS, (a.project_ids,)).rowcount == 0
        assert not _can_create(y_conn)
        y_conn.commit()


def test_deactivated_user_loses_access_from_the_next_transaction(
    committed_data: Committed,
) -> None:
    a = committed_data.tenant("deactivated")
    with connect(committed_data.conninfo) as y_conn:
        act_as(y_conn, a.user, a.org_id)
        assert _role(y_conn) == "ORG_USER"
        y_conn.commit()

        with connect(committed_data.conninfo, autocommit=True) as owner:
            owner.execute("update iam.users set is_active = false where id = %s", (a.user,))

        act_as(y_conn, a.user, a.org_id)
        assert _role(y_conn) is None
        assert y_conn.execute("select id from iam.projects").fetchall() == []
        assert not _can_create(y_conn)
        y_conn.commit()
