"""iam.invitations as each actor, and the definer functions that accept them.

Only an ORG_ADMIN of the active organization reads, creates and revokes
its invitations; nobody reads a token's digest; nobody becomes a member
without accepting; accepting checks the caller's email in the database and
uses an invitation at most once, also when two accepts race.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from tests.support.sql import (
    ACTORS,
    DELETE_ORGANIZATION,
    ORG_ADMIN,
    OTHER_ORG_ADMIN,
    REVOKE_INVITATION,
    Committed,
    Conn,
    World,
    act_as,
    act_as_anon,
    act_as_owner,
    add_member,
    become,
    connect,
    ids,
)

INSERT = (
    "insert into iam.invitations (email, role, token_hash, expires_at)"
    " values (%s, %s, iam.invitation_token_hash(%s), now() + interval '1 day') returning id"
)


def _email(conn: Conn, user_id: uuid.UUID) -> str:
    act_as_owner(conn)
    row = conn.execute("select email from iam.users where id = %s", (user_id,)).fetchone()
    assert row is not None
    return str(row[0])


def invite(
    conn: Conn, world: World, email: str, role: str = "ORG_USER", org: str = "a"
) -> tuple[uuid.UUID, str]:
    """An invitation made as that organization's ORG_ADMIN: (id, token)."""
    tenant = world.a if org == "a" else world.b
    token = secrets.token_urlsafe(32)
    act_as(conn, tenant.admin, tenant.org_id)
    row = conn.execute(INSERT, (email, role, token)).fetchone()
    assert row is not None
    # The actors that follow start from no context at all.
    act_as(conn, None, None)
    act_as_owner(conn)
    return uuid.UUID(str(row[0])), token


def _pending(conn: Conn, org_id: uuid.UUID) -> set[uuid.UUID]:
    act_as_owner(conn)
    return ids(
        conn,
        "select id from iam.invitations where organization_id = %s and accepted_at is null",
        (org_id,),
    )


def _role(conn: Conn, org_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    act_as_owner(conn)
    row = conn.execute(
        "select role::text from iam.organization_memberships"
        " where organization_id = %s and user_id = %s",
        (org_id, user_id),
    ).fetchone()
    return None if row is None else row[0]


def _admin_only(actors: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(a, a == ORG_ADMIN, id=f"{a}-{'yes' if a == ORG_ADMIN else 'no'}")
        for a in actors
    ]


# ------------------------------------------------------------------ the table, per actor


@pytest.mark.parametrize(("actor", "allowed"), _admin_only(ACTORS))
def test_only_admins_read_their_organizations_invitations(
    conn: Conn, world: World, actor: str, allowed: bool
) -> None:
    mine, _ = invite(conn, world, "reader@example.com")
    theirs, _ = invite(conn, world, "reader@example.com", org="b")
    become(conn, world, actor)
    seen = ids(conn, "select id from iam.invitations")
    # B's admin, acting in B, sees B's invitation and never A's.
    expected = {mine} if allowed else {theirs} if actor == OTHER_ORG_ADMIN else set()
    assert seen == expected


@pytest.mark.parametrize("actor", ACTORS)
def test_nobody_reads_a_token_digest(conn: Conn, world: World, actor: str) -> None:
    invite(conn, world, "digest@example.com")
    become(conn, world, actor)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select token_hash from iam.invitations")


@pytest.mark.parametrize(("actor", "allowed"), _admin_only(ACTORS))
def test_only_admins_invite_into_their_organization(
    conn: Conn, world: World, actor: str, allowed: bool
) -> None:
    before = _pending(conn, world.a.org_id)
    become(conn, world, actor)
    conn.execute("savepoint attempt")
    try:
        conn.execute(INSERT, ("newcomer@example.com", "ORG_ADMIN", "t"))
        refused = False
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.NotNullViolation):
        conn.execute("rollback to savepoint attempt")
        refused = True
    # B's admin, acting in B, invites into B: never into A.
    assert refused != (allowed or actor == OTHER_ORG_ADMIN)
    assert len(_pending(conn, world.a.org_id) - before) == (1 if allowed else 0)


def test_a_member_inviting_a_members_email_learns_only_42501(conn: Conn, world: World) -> None:
    member_email = _email(conn, world.a.read_only)
    act_as(conn, world.a.user, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(INSERT, (member_email, "ORG_USER", "t"))


@pytest.mark.parametrize(("actor", "allowed"), _admin_only(ACTORS))
def test_only_admins_revoke_their_organizations_invitations(
    conn: Conn, world: World, actor: str, allowed: bool
) -> None:
    invitation, _ = invite(conn, world, "revoked@example.com")
    become(conn, world, actor)
    deleted = conn.execute(REVOKE_INVITATION, (invitation,)).rowcount
    assert deleted == (1 if allowed else 0)
    assert (invitation in _pending(conn, world.a.org_id)) != allowed


def test_admins_cannot_mark_an_invitation_accepted(conn: Conn, world: World) -> None:
    invitation, _ = invite(conn, world, "forged@example.com")
    act_as(conn, world.a.admin, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("update iam.invitations set accepted_at = now() where id = %s", (invitation,))


def test_anon_reads_no_invitation(conn: Conn, world: World) -> None:
    invite(conn, world, "anon@example.com")
    act_as_anon(conn)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select id from iam.invitations")


@pytest.mark.parametrize("actor", ACTORS)
def test_nobody_adds_a_member_directly(conn: Conn, world: World, actor: str) -> None:
    become(conn, world, actor)
    conn.execute("savepoint attempt")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "insert into iam.organization_memberships (user_id, role) values (%s, 'ORG_ADMIN')",
            (world.outsider,),
        )
    conn.execute("rollback to savepoint attempt")
    assert _role(conn, world.a.org_id, world.outsider) is None


def test_current_members_email_is_a_conflict(conn: Conn, world: World) -> None:
    member_email = _email(conn, world.a.read_only)
    act_as(conn, world.a.admin, world.a.org_id)
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(INSERT, (member_email, "ORG_ADMIN", "t"))


def test_registered_and_unregistered_emails_are_invited_alike(conn: Conn, world: World) -> None:
    registered = _email(conn, world.outsider)
    first, _ = invite(conn, world, registered)
    second, _ = invite(conn, world, "never-registered@example.com")
    assert {first, second} <= _pending(conn, world.a.org_id)


def test_at_most_100_invitations_are_pending_per_organization(conn: Conn, world: World) -> None:
    act_as(conn, world.a.admin, world.a.org_id)
    conn.execute(
        "insert into iam.invitations (email, role, token_hash, expires_at)"
        " select 'cap' || n || '@example.com', 'READ_ONLY',"
        "        iam.invitation_token_hash(n::text), now() + interval '1 day'"
        " from generate_series(1, 100) as n"
    )
    with pytest.raises(psycopg.Error) as refused:
        conn.execute(INSERT, ("one-more@example.com", "READ_ONLY", "t"))
    assert refused.value.sqlstate == "IAM02"


def test_expired_invitations_make_room(conn: Conn, world: World) -> None:
    invitation, _ = invite(conn, world, "late@example.com")
    act_as_owner(conn)
    conn.execute(
        "update iam.invitations set created_at = now() - interval '8 days',"
        " expires_at = now() - interval '1 day' where id = %s",
        (invitation,),
    )
    again, _ = invite(conn, world, "late@example.com")
    assert _pending(conn, world.a.org_id) >= {again}
    assert invitation not in _pending(conn, world.a.org_id)


def test_the_digest_is_sha256_of_the_token(conn: Conn, world: World) -> None:
    invitation, token = invite(conn, world, "hash@example.com")
    act_as_owner(conn)
    row = conn.execute(
        "select token_hash from iam.invitations where id = %s", (invitation,)
    ).fetchone()
    assert row is not None and bytes(row[0]) == hashlib.sha256(token.encode()).digest()


# ------------------------------------------------------------------ accepting


def _accept(conn: Conn, user_id: uuid.UUID, org_id: uuid.UUID | None, token: str) -> list[Any]:
    act_as(conn, user_id, org_id)
    return conn.execute(
        "select organization_id, role::text from iam.accept_invitation(%s)", (token,)
    ).fetchall()


def test_the_invitee_accepts_and_joins_with_the_invited_role(conn: Conn, world: World) -> None:
    _, token = invite(conn, world, _email(conn, world.outsider), "READ_ONLY")
    # The invitee's context names no organization of theirs (they have none).
    assert _accept(conn, world.outsider, None, token) == [(world.a.org_id, "READ_ONLY")]
    assert _role(conn, world.a.org_id, world.outsider) == "READ_ONLY"


@pytest.mark.parametrize("case", ["other_email", "expired", "used", "revoked", "unknown"])
def test_an_unusable_invitation_is_no_row(conn: Conn, world: World, case: str) -> None:
    invitee = world.outsider
    invitation, token = invite(conn, world, _email(conn, invitee), "ORG_ADMIN")
    caller = invitee
    if case == "other_email":
        caller = world.b.user
    elif case == "expired":
        act_as_owner(conn)
        conn.execute(
            "update iam.invitations set created_at = now() - interval '8 days',"
            " expires_at = now() - interval '1 second' where id = %s",
            (invitation,),
        )
    elif case == "used":
        assert _accept(conn, invitee, None, token)
        act_as_owner(conn)
        conn.execute(
            "delete from iam.organization_memberships where organization_id = %s and user_id = %s",
            (world.a.org_id, invitee),
        )
    elif case == "revoked":
        act_as(conn, world.a.admin, world.a.org_id)
        assert conn.execute(REVOKE_INVITATION, (invitation,)).rowcount == 1
    else:
        token = secrets.token_urlsafe(32)

    assert _accept(conn, caller, None, token) == []
    assert _role(conn, world.a.org_id, caller) is None


def test_an_inactive_user_cannot_accept(conn: Conn, world: World) -> None:
    _, token = invite(conn, world, _email(conn, world.outsider))
    act_as_owner(conn)
    conn.execute("update iam.users set is_active = false where id = %s", (world.outsider,))
    assert _accept(conn, world.outsider, None, token) == []


def test_register_invited_creates_the_user_and_membership(conn: Conn, world: World) -> None:
    _, token = invite(conn, world, "fresh@example.com", "ORG_USER")
    act_as_anon(conn)
    row = conn.execute(
        "select user_id, organization_id, role::text from iam.register_invited(%s, 'h', %s)",
        (" Fresh@Example.com ", token),
    ).fetchone()
    assert row is not None
    assert (row[1], row[2]) == (world.a.org_id, "ORG_USER")
    assert _role(conn, world.a.org_id, row[0]) == "ORG_USER"


@pytest.mark.parametrize("case", ["other_email", "unknown"])
def test_register_invited_refuses_an_unusable_invitation(
    conn: Conn, world: World, case: str
) -> None:
    _, token = invite(conn, world, "promised@example.com")
    email = "impostor@example.com" if case == "other_email" else "promised@example.com"
    if case == "unknown":
        token = secrets.token_urlsafe(32)
    act_as_anon(conn)
    with pytest.raises(psycopg.Error) as refused:
        conn.execute("select * from iam.register_invited(%s, 'h', %s)", (email, token))
    assert refused.value.sqlstate == "IAM03"


def test_runtime_roles_cannot_call_each_others_functions(conn: Conn, world: World) -> None:
    act_as_anon(conn)
    conn.execute("savepoint s")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from iam.accept_invitation('x')")
    conn.execute("rollback to savepoint s")
    act_as(conn, world.a.admin, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from iam.register_invited('a@b.co', 'h', 'x')")


# ------------------------------------------------------------------ the organization


@pytest.mark.parametrize(("actor", "allowed"), _admin_only(ACTORS))
def test_only_admins_rename_their_organization(
    conn: Conn, world: World, actor: str, allowed: bool
) -> None:
    become(conn, world, actor)
    renamed = conn.execute(
        "update iam.organizations set name = 'Renamed' where id = %s", (world.a.org_id,)
    ).rowcount
    assert renamed == (1 if allowed else 0)


@pytest.mark.parametrize(("actor", "allowed"), _admin_only(ACTORS))
def test_only_admins_delete_their_organization_with_all_it_owns(
    conn: Conn, world: World, actor: str, allowed: bool
) -> None:
    invite(conn, world, "orphan@example.com")
    become(conn, world, actor)
    deleted = conn.execute(DELETE_ORGANIZATION, (world.a.org_id,)).rowcount
    assert deleted == (1 if allowed else 0)
    act_as_owner(conn)
    owned = conn.execute(
        "select (select count(*) from iam.organization_memberships where organization_id = %(o)s),"
        " (select count(*) from iam.projects where organization_id = %(o)s),"
        " (select count(*) from iam.invitations where organization_id = %(o)s)",
        {"o": world.a.org_id},
    ).fetchone()
    assert owned is not None
    assert (sum(owned) == 0) == allowed
    # The other organization is untouched either way.
    assert _role(conn, world.b.org_id, world.b.admin) == "ORG_ADMIN"


def test_an_admin_cannot_delete_another_organization_of_theirs_from_this_one(
    conn: Conn, world: World
) -> None:
    add_member(conn, world.b.org_id, world.a.admin, "ORG_ADMIN")
    act_as(conn, world.a.admin, world.a.org_id)
    assert conn.execute(DELETE_ORGANIZATION, (world.b.org_id,)).rowcount == 0


# ------------------------------------------------------------------ races


def test_two_racing_accepts_of_one_invitation_exactly_one_wins(
    committed_data: Committed,
) -> None:
    """Both accepts are released at once from their own connections; the
    invitation's row lock decides. Repeated, so that either may come first."""
    a = committed_data.tenant("acceptrace", projects=0)
    for _ in range(5):
        invitee = committed_data.member(a.org_id, "READ_ONLY", "invitee")
        with connect(committed_data.conninfo) as setup:
            email = _email(setup, invitee)
            setup.execute("delete from iam.organization_memberships where user_id = %s", (invitee,))
            token = secrets.token_urlsafe(32)
            act_as(setup, a.admin, a.org_id)
            setup.execute(INSERT, (email, "ORG_USER", token))
            setup.commit()

        def attempt(_: int, token: str = token, invitee: uuid.UUID = invitee) -> int:
            with connect(committed_data.conninfo) as conn:
                act_as(conn, invitee, None)
                rows = conn.execute("select * from iam.accept_invitation(%s)", (token,)).fetchall()
                conn.commit()
                return len(rows)

        with connect(committed_data.conninfo, autocommit=True) as holder:
            # Hold the invitation's row so both accepts queue behind it.
            holder.execute("begin")
            holder.execute(
                "select 1 from iam.invitations where token_hash = iam.invitation_token_hash(%s)"
                " for update",
                (token,),
            )
            with ThreadPoolExecutor(2) as pool:
                futures = [pool.submit(attempt, n) for n in range(2)]
                _wait_for_lock_waiters(committed_data.conninfo, 2)
                holder.execute("commit")
                outcomes = sorted(f.result(timeout=15) for f in futures)
        assert outcomes == [0, 1]
        with connect(committed_data.conninfo, autocommit=True) as owner:
            row = owner.execute(
                "select count(*) from iam.organization_memberships where user_id = %s", (invitee,)
            ).fetchone()
            assert row == (1,)


def _wait_for_lock_waiters(conninfo: str, count: int) -> None:
    # From a connection of its own: pg_stat_activity is read once per transaction.
    deadline = time.monotonic() + 10
    with connect(conninfo, autocommit=True) as monitor:
        while time.monotonic() < deadline:
            row = monitor.execute(
                "select count(*) from pg_stat_activity"
                " where datname = current_database() and wait_event_type = 'Lock'"
            ).fetchone()
            if row is not None and row[0] >= count:
                return
            time.sleep(0.02)
    pytest.fail(f"fewer than {count} accepts waited for the invitation")


def test_concurrent_invitations_respect_the_cap(committed_data: Committed) -> None:
    """The 100th and 101st invitation race: the advisory lock lets one through."""
    a = committed_data.tenant("caprace", projects=0)
    with connect(committed_data.conninfo) as setup:
        act_as(setup, a.admin, a.org_id)
        setup.execute(
            "insert into iam.invitations (email, role, token_hash, expires_at)"
            " select 'race' || n || '@example.com', 'READ_ONLY',"
            "        iam.invitation_token_hash(n::text), now() + interval '1 day'"
            " from generate_series(1, 99) as n"
        )
        setup.commit()

    def attempt(n: int) -> str:
        with connect(committed_data.conninfo) as conn:
            act_as(conn, a.admin, a.org_id)
            try:
                conn.execute(INSERT, (f"last{n}@example.com", "READ_ONLY", f"last{n}"))
                conn.commit()
                return "created"
            except psycopg.Error as error:
                return str(error.sqlstate)

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(attempt, range(4)))
    assert outcomes == ["IAM02", "IAM02", "IAM02", "created"]
    with connect(committed_data.conninfo, autocommit=True) as owner:
        row = owner.execute(
            "select count(*) from iam.invitations where organization_id = %s", (a.org_id,)
        ).fetchone()
        assert row == (100,)
