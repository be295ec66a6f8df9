"""The SECURITY DEFINER functions: who may call them, and what they return.

register, login_attempt (which counts the attempt, then calls login_lookup)
and set_password_hash run before authentication, as iam_anon only;
my_organizations, switch_organization, create_organization and
accept_invitation run with a token, as iam_authenticated only. Each
returns only the caller's own data.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.support.sql import (
    Conn,
    World,
    act_as,
    act_as_anon,
    act_as_owner,
    add_member,
    ids,
    make_tenant,
)

ANON_FUNCTIONS = {
    "register": "select * from iam.register('someone@example.com', 'hash', 'Some org')",
    "login_attempt": "select * from iam.login_attempt('192.0.2.1', 'someone@example.com',"
    " null, 100, 60, 10, 900)",
    "set_password_hash": "select iam.set_password_hash(gen_random_uuid(), 'old', 'new')",
    "register_invited": "select * from iam.register_invited('someone@example.com', 'h', 't')",
}
AUTHENTICATED_FUNCTIONS = {
    "my_organizations": "select * from iam.my_organizations(10)",
    "switch_organization": "select * from iam.switch_organization(gen_random_uuid())",
    "create_organization": "select * from iam.create_organization('x')",
    "accept_invitation": "select * from iam.accept_invitation('token')",
    "member_role": "select iam.member_role()",
    "member_role_for_write": "select iam.member_role_for_write()",
}


@pytest.mark.parametrize("function", sorted(ANON_FUNCTIONS))
def test_authenticated_role_cannot_execute_pre_authentication_function(
    conn: Conn, world: World, function: str
) -> None:
    act_as(conn, world.a.admin, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(ANON_FUNCTIONS[function])


@pytest.mark.parametrize("function", sorted(AUTHENTICATED_FUNCTIONS))
def test_anon_role_cannot_execute_tenant_function(conn: Conn, function: str) -> None:
    act_as_anon(conn)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(AUTHENTICATED_FUNCTIONS[function])


@pytest.mark.parametrize(
    "table", ["organizations", "users", "organization_memberships", "projects"]
)
def test_anon_role_cannot_read_any_table(conn: Conn, table: str) -> None:
    act_as_anon(conn)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"select 1 from iam.{table}")


# ----------------------------------------------------------------- register


def test_register_creates_user_organization_and_admin_membership(conn: Conn) -> None:
    email = f"  New-{uuid.uuid4().hex[:8]}@Example.COM "
    act_as_anon(conn)
    row = conn.execute(
        "select user_id, email, organization_id, organization_name"
        " from iam.register(%s, 'argon2-hash', '  Acme  ')",
        (email,),
    ).fetchone()
    assert row is not None
    user_id, stored_email, org_id, org_name = row
    assert stored_email == email.strip().lower()
    assert org_name == "Acme"
    act_as_owner(conn)
    assert conn.execute(
        "select role::text from iam.organization_memberships"
        " where organization_id = %s and user_id = %s",
        (org_id, user_id),
    ).fetchone() == ("ORG_ADMIN",)
    assert conn.execute(
        "select password_hash from iam.users where id = %s", (user_id,)
    ).fetchone() == ("argon2-hash",)


def test_register_with_a_taken_email_in_another_case_is_a_unique_violation(conn: Conn) -> None:
    email = f"taken-{uuid.uuid4().hex[:8]}@example.com"
    act_as_anon(conn)
    conn.execute("select * from iam.register(%s, 'h', 'First')", (email,))
    with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
        conn.execute("select * from iam.register(%s, 'h', 'Second')", (email.upper(),))
    act_as_owner(conn)
    assert conn.execute(
        "select count(*) from iam.organizations where name = 'Second'"
    ).fetchone() == (0,)


# -------------------------------------------------------------------- login


def _email(conn: Conn, user_id: uuid.UUID) -> str:
    act_as_owner(conn)
    row = conn.execute("select email from iam.users where id = %s", (user_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_login_attempt_returns_hash_and_first_organization(conn: Conn, world: World) -> None:
    email = _email(conn, world.a.user)
    add_member(conn, world.b.org_id, world.a.user, "READ_ONLY")
    # Everything here shares one transaction's now(): make B the later membership.
    conn.execute(
        "update iam.organization_memberships set created_at = now() + interval '1 minute'"
        " where organization_id = %s and user_id = %s",
        (world.b.org_id, world.a.user),
    )
    act_as_anon(conn)
    rows = conn.execute(
        "select user_id, password_hash, is_active, organization_id, role"
        " from iam.login_attempt('192.0.2.1', %s, null, 1000, 60, 1000, 900)",
        (f" {email.upper()} ",),
    ).fetchall()
    assert rows == [(world.a.user, "x", True, world.a.org_id, "ORG_USER")]


def test_login_attempt_for_another_organization(conn: Conn, world: World) -> None:
    email = _email(conn, world.a.user)
    add_member(conn, world.b.org_id, world.a.user, "READ_ONLY")
    act_as_anon(conn)
    row = conn.execute(
        "select organization_id, role"
        " from iam.login_attempt('192.0.2.1', %s, %s, 1000, 60, 1000, 900)",
        (email, world.b.org_id),
    ).fetchone()
    assert row == (world.b.org_id, "READ_ONLY")


def test_login_attempt_for_an_organization_the_user_is_not_in_names_none(
    conn: Conn, world: World
) -> None:
    email = _email(conn, world.a.user)
    act_as_anon(conn)
    row = conn.execute(
        "select organization_id, organization_name, role"
        " from iam.login_attempt('192.0.2.1', %s, %s, 1000, 60, 1000, 900)",
        (email, world.b.org_id),
    ).fetchone()
    assert row == (None, None, None)


def test_login_attempt_of_unknown_email_returns_no_account(conn: Conn) -> None:
    act_as_anon(conn)
    rows = conn.execute(
        "select wait_seconds, user_id, password_hash from iam.login_attempt("
        "'192.0.2.1', 'nobody@example.com', null, 1000, 60, 1000, 900)"
    ).fetchall()
    assert rows == [(0, None, None)]


def test_anon_gets_hashes_only_with_a_counted_attempt(conn: Conn) -> None:
    act_as_anon(conn)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from iam.login_lookup('someone@example.com')")


def test_set_password_hash_is_a_compare_and_set(conn: Conn, world: World) -> None:
    email = _email(conn, world.a.user)
    # The API reaches it through iam.login_attempt; as the owner here.
    conn.execute("select * from iam.login_lookup(%s)", (email,))
    act_as_anon(conn)
    assert conn.execute(
        "select iam.set_password_hash(%s, 'stale', 'new')", (world.a.user,)
    ).fetchone() == (False,)
    assert conn.execute(
        "select iam.set_password_hash(%s, 'x', 'new')", (world.a.user,)
    ).fetchone() == (True,)
    act_as_owner(conn)
    assert conn.execute(
        "select password_hash from iam.users where id = %s", (world.a.user,)
    ).fetchone() == ("new",)


def test_set_password_hash_refuses_a_hash_it_did_not_hand_out(conn: Conn, world: World) -> None:
    """Knowing a user's id and hash is not enough: the lookup must have handed it out."""
    act_as_anon(conn)
    assert conn.execute(
        "select iam.set_password_hash(%s, 'x', 'taken-over')", (world.a.user,)
    ).fetchone() == (False,)
    act_as_owner(conn)
    assert conn.execute(
        "select password_hash from iam.users where id = %s", (world.a.user,)
    ).fetchone() == ("x",)


def test_a_hand_out_is_spent_by_one_replacement(conn: Conn, world: World) -> None:
    email = _email(conn, world.a.user)
    # The API reaches it through iam.login_attempt; as the owner here.
    conn.execute("select * from iam.login_lookup(%s)", (email,))
    act_as_anon(conn)
    assert conn.execute(
        "select iam.set_password_hash(%s, 'x', 'x')", (world.a.user,)
    ).fetchone() == (True,)
    assert conn.execute(
        "select iam.set_password_hash(%s, 'x', 'taken-over')", (world.a.user,)
    ).fetchone() == (False,)


def test_a_stale_hand_out_is_refused(conn: Conn, world: World) -> None:
    email = _email(conn, world.a.user)
    # The API reaches it through iam.login_attempt; as the owner here.
    conn.execute("select * from iam.login_lookup(%s)", (email,))
    act_as_anon(conn)
    act_as_owner(conn)
    conn.execute(
        "update iam.password_hash_handouts set handed_out_at = now() - interval '3 minutes'"
        " where user_id = %s",
        (world.a.user,),
    )
    act_as_anon(conn)
    assert conn.execute(
        "select iam.set_password_hash(%s, 'x', 'taken-over')", (world.a.user,)
    ).fetchone() == (False,)


def test_every_hash_hand_out_leaves_a_trace(conn: Conn, world: World) -> None:
    email = _email(conn, world.a.user)
    for _ in range(3):
        conn.execute("select * from iam.login_lookup(%s)", (email,))
    conn.execute("select * from iam.login_lookup('nobody@example.com')")
    rows = conn.execute(
        "select user_id, hash_digest, used_at from iam.password_hash_handouts where user_id = %s",
        (world.a.user,),
    ).fetchall()
    assert len(rows) == 3
    assert all(digest != "x" and len(digest) == 64 and used is None for _, digest, used in rows)


# ------------------------------------------------------ the caller's organizations


def test_my_organizations_lists_only_the_callers_memberships(conn: Conn, world: World) -> None:
    c = make_tenant(conn, "c", projects=0)
    add_member(conn, c.org_id, world.a.read_only, "ORG_ADMIN")
    act_as(conn, world.a.read_only, world.a.org_id)
    rows = conn.execute("select id, role from iam.my_organizations(100)").fetchall()
    assert sorted(map(tuple, rows)) == sorted(
        [(world.a.org_id, "READ_ONLY"), (c.org_id, "ORG_ADMIN")]
    )


@pytest.mark.parametrize("org_context", ["", "not-a-uuid", "other-org"])
def test_my_organizations_depends_on_the_user_not_the_active_organization(
    conn: Conn, world: World, org_context: str
) -> None:
    org = world.b.org_id if org_context == "other-org" else org_context
    act_as(conn, world.a.user, org)
    assert ids(conn, "select id from iam.my_organizations(100)") == {world.a.org_id}


def test_my_organizations_without_a_user_is_empty(conn: Conn, world: World) -> None:
    act_as(conn, "", world.a.org_id)
    assert conn.execute("select * from iam.my_organizations(100)").fetchall() == []


def test_my_organizations_with_a_malformed_user_is_an_error(conn: Conn, world: World) -> None:
    act_as(conn, "not-a-uuid", world.a.org_id)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        conn.execute("select * from iam.my_organizations(100)").fetchall()


def test_my_organizations_of_an_inactive_user_is_empty(conn: Conn, world: World) -> None:
    act_as_owner(conn)
    conn.execute("update iam.users set is_active = false where id = %s", (world.a.user,))
    act_as(conn, world.a.user, world.a.org_id)
    assert conn.execute("select * from iam.my_organizations(100)").fetchall() == []


def test_switch_organization_to_a_membership(conn: Conn, world: World) -> None:
    add_member(conn, world.b.org_id, world.a.user, "READ_ONLY")
    act_as(conn, world.a.user, world.a.org_id)
    row = conn.execute(
        "select organization_id, role from iam.switch_organization(%s)", (world.b.org_id,)
    ).fetchone()
    assert row == (world.b.org_id, "READ_ONLY")


def test_switch_organization_to_a_foreign_organization_returns_no_row(
    conn: Conn, world: World
) -> None:
    act_as(conn, world.a.admin, world.a.org_id)
    assert (
        conn.execute("select * from iam.switch_organization(%s)", (world.b.org_id,)).fetchall()
        == []
    )
