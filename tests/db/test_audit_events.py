"""iam.audit_events: every change leaves one event, written by the database, never rewritten.

Each change is made by plain SQL as the runtime role, the way any client of
the database would, and must leave exactly one event naming the caller, the
target and the request id of the transaction's context. Then every role a
request can use, and a login role like the API's, tries to insert, update,
delete and truncate events, and is refused.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import psycopg
import pytest

from tests.db.test_invitations_policies import INSERT as INVITE
from tests.db.test_invitations_policies import _email, invite
from tests.support.sql import (
    ACTORS,
    DELETE_PROJECT,
    ORG_ADMIN,
    OTHER_ORG_ADMIN,
    REMOVE_MEMBER,
    REVOKE_INVITATION,
    Conn,
    World,
    act_as,
    act_as_anon,
    act_as_owner,
    add_member,
    become,
    make_user,
)

REQUEST_ID = "req-audit-0001"
EVENT = "action, actor_user_id, target_type, target_id, changes, request_id"


def _events_since(conn: Conn, org_id: uuid.UUID, mark: Any) -> list[tuple[Any, ...]]:
    """The events of one organization recorded after `mark`, oldest first, read as the owner."""
    act_as_owner(conn)
    return conn.execute(
        f"select {EVENT} from iam.audit_events"
        " where organization_id = %s and occurred_at > %s order by occurred_at, id",
        (org_id, mark),
    ).fetchall()


def _mark(conn: Conn) -> Any:
    act_as_owner(conn)
    row = conn.execute("select clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def _one(events: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    assert len(events) == 1, events
    return events[0]


# ------------------------------------------------------------------ projects


def test_project_created_updated_deleted_each_leave_one_event(conn: Conn, world: World) -> None:
    a = world.a
    mark = _mark(conn)
    act_as(conn, a.user, a.org_id, request_id=REQUEST_ID)
    row = conn.execute(
        "insert into iam.projects (name, description) values ('Apollo', 'moon') returning id"
    ).fetchone()
    assert row is not None
    project = row[0]
    assert _one(_events_since(conn, a.org_id, mark)) == (
        "project.created",
        a.user,
        "project",
        project,
        {
            "name": {"old": None, "new": "Apollo"},
            "description": {"old": None, "new": "moon"},
            "created_by_user_id": {"old": None, "new": str(a.user)},
        },
        REQUEST_ID,
    )

    mark = _mark(conn)
    act_as(conn, a.admin, a.org_id, request_id="req-2")
    conn.execute("update iam.projects set name = 'Artemis' where id = %s", (project,))
    assert _one(_events_since(conn, a.org_id, mark)) == (
        "project.updated",
        a.admin,
        "project",
        project,
        {"name": {"old": "Apollo", "new": "Artemis"}},
        "req-2",
    )

    mark = _mark(conn)
    act_as(conn, a.admin, a.org_id, request_id="req-3")
    conn.execute(DELETE_PROJECT, (project,))
    action, actor, _, target, changes, request_id = _one(_events_since(conn, a.org_id, mark))
    assert (action, actor, target, request_id) == ("project.deleted", a.admin, project, "req-3")
    assert changes["name"] == {"old": "Artemis", "new": None}


def test_update_that_changes_nothing_records_nothing(conn: Conn, world: World) -> None:
    a = world.a
    mark = _mark(conn)
    act_as(conn, a.user, a.org_id)
    conn.execute("update iam.projects set name = name where id = %s", (a.project_ids[0],))
    conn.execute(
        "update iam.organization_memberships set role = role where user_id = %s", (world.extra,)
    )
    assert _events_since(conn, a.org_id, mark) == []


def test_refused_write_records_nothing(conn: Conn, world: World) -> None:
    a = world.a
    mark = _mark(conn)
    act_as(conn, a.read_only, a.org_id)
    assert conn.execute(DELETE_PROJECT, (a.project_ids[0],)).rowcount == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute("insert into iam.projects (name) values ('Nope')")
    assert _events_since(conn, a.org_id, mark) == []


# ------------------------------------------------------------------- members


def test_member_added_role_changed_removed_each_leave_one_event(conn: Conn, world: World) -> None:
    a = world.a
    newcomer = make_user(conn, "newcomer")
    # Members join by accepting an invitation: the invitee is the actor.
    _, token = invite(conn, world, _email(conn, newcomer), "READ_ONLY")
    mark = _mark(conn)
    act_as(conn, newcomer, None, request_id=REQUEST_ID)
    conn.execute("select * from iam.accept_invitation(%s)", (token,))
    # Two changes, two events: the invitation is used, the membership created.
    accepted, added = _events_since(conn, a.org_id, mark)
    assert accepted[0] == "invitation.accepted"
    assert added == (
        "member.added",
        newcomer,
        "member",
        newcomer,
        {"role": {"old": None, "new": "READ_ONLY"}},
        REQUEST_ID,
    )

    mark = _mark(conn)
    act_as(conn, a.admin, a.org_id, request_id=REQUEST_ID)
    conn.execute(
        "update iam.organization_memberships set role = 'ORG_ADMIN' where user_id = %s",
        (newcomer,),
    )
    assert _one(_events_since(conn, a.org_id, mark)) == (
        "member.role_changed",
        a.admin,
        "member",
        newcomer,
        {"role": {"old": "READ_ONLY", "new": "ORG_ADMIN"}},
        REQUEST_ID,
    )

    mark = _mark(conn)
    act_as(conn, a.admin, a.org_id, request_id=REQUEST_ID)
    conn.execute(REMOVE_MEMBER, (newcomer,))
    assert _one(_events_since(conn, a.org_id, mark)) == (
        "member.removed",
        a.admin,
        "member",
        newcomer,
        {"role": {"old": "ORG_ADMIN", "new": None}},
        REQUEST_ID,
    )


def test_member_leaving_is_recorded_as_a_leave(conn: Conn, world: World) -> None:
    a = world.a
    mark = _mark(conn)
    act_as(conn, a.read_only, a.org_id, request_id=REQUEST_ID)
    conn.execute(REMOVE_MEMBER, (a.read_only,))
    assert _one(_events_since(conn, a.org_id, mark))[:4] == (
        "member.left",
        a.read_only,
        "member",
        a.read_only,
    )


# ------------------------------------------------------------- organizations


def test_registration_records_the_organization_and_its_first_admin(conn: Conn) -> None:
    mark = _mark(conn)
    act_as_anon(conn)
    conn.execute("select set_config('iam.request_id', %s, true)", (REQUEST_ID,))
    row = conn.execute(
        "select user_id, organization_id from iam.register(%s, 'x', 'Acme')",
        (f"reg-{uuid.uuid4().hex[:8]}@example.com",),
    ).fetchone()
    assert row is not None
    user_id, org_id = row
    assert _events_since(conn, org_id, mark) == [
        (
            "organization.created",
            None,
            "organization",
            org_id,
            {"name": {"old": None, "new": "Acme"}},
            REQUEST_ID,
        ),
        # Nobody is signed in yet: the new user is the one acting.
        (
            "member.added",
            user_id,
            "member",
            user_id,
            {"role": {"old": None, "new": "ORG_ADMIN"}},
            REQUEST_ID,
        ),
    ]


def test_organization_created_by_an_admin_is_recorded_in_the_new_organization(
    conn: Conn, world: World
) -> None:
    a = world.a
    mark = _mark(conn)
    act_as(conn, a.admin, a.org_id, request_id=REQUEST_ID)
    row = conn.execute("select id from iam.create_organization('Second')").fetchone()
    assert row is not None
    new_org = row[0]
    assert [e[:4] for e in _events_since(conn, new_org, mark)] == [
        ("organization.created", a.admin, "organization", new_org),
        ("member.added", a.admin, "member", a.admin),
    ]
    assert _events_since(conn, a.org_id, mark) == []


def test_organization_renamed_is_recorded_and_other_updates_are_not(
    conn: Conn, world: World
) -> None:
    a = world.a
    mark = _mark(conn)
    # No request role may rename an organization directly; whoever does is
    # recorded with the context of the transaction.
    act_as_owner(conn)
    conn.execute("select set_config('iam.user_id', %s, true)", (str(a.admin),))
    conn.execute("select set_config('iam.request_id', %s, true)", (REQUEST_ID,))
    conn.execute("update iam.organizations set name = 'Renamed' where id = %s", (a.org_id,))
    conn.execute("update iam.organizations set updated_at = now() where id = %s", (a.org_id,))
    event = _one(_events_since(conn, a.org_id, mark))
    assert event[:4] == ("organization.renamed", a.admin, "organization", a.org_id)
    assert event[4] == {"name": {"old": event[4]["name"]["old"], "new": "Renamed"}}
    assert event[4]["name"]["old"].startswith("a ")


def test_deleting_the_organization_deletes_its_events_and_only_those(
    conn: Conn, world: World
) -> None:
    act_as_owner(conn)
    counts = conn.execute(
        "select count(*) filter (where organization_id = %s),"
        " count(*) filter (where organization_id = %s) from iam.audit_events",
        (world.a.org_id, world.b.org_id),
    ).fetchone()
    assert counts is not None and counts[0] > 0 and counts[1] > 0
    conn.execute("delete from iam.organizations where id = %s", (world.a.org_id,))
    after = conn.execute(
        "select count(*) filter (where organization_id = %s),"
        " count(*) filter (where organization_id = %s) from iam.audit_events",
        (world.a.org_id, world.b.org_id),
    ).fetchone()
    assert after == (0, counts[1])


def test_events_never_hold_a_password_hash(conn: Conn, world: World) -> None:
    act_as_owner(conn)
    leaked = conn.execute(
        "select count(*) from iam.audit_events as e join iam.users as u"
        " on e.changes::text like '%%' || u.password_hash || '%%'"
        " where u.password_hash <> 'x'"
    ).fetchone()
    assert leaked == (0,)
    keys = conn.execute(
        "select distinct k from iam.audit_events, jsonb_object_keys(changes) as k"
    ).fetchall()
    assert {k for (k,) in keys} <= RECORDED_COLUMNS


# ---------------------------------------------------------------- invitations

# Every column any trigger records; no secret (a hash, a token) is one of them.
RECORDED_COLUMNS = {
    "name",
    "description",
    "created_by_user_id",
    "role",
    "email",
    "expires_at",
    "invited_by_user_id",
    "accepted_at",
    "accepted_by_user_id",
}


def _invite_as_admin(conn: Conn, world: World, email: str, request_id: str) -> tuple[Any, str]:
    """An invitation made by A's ORG_ADMIN, with a request id: (id, token)."""
    token = f"token-{uuid.uuid4().hex}"
    act_as(conn, world.a.admin, world.a.org_id, request_id=request_id)
    row = conn.execute(INVITE, (email, "READ_ONLY", token)).fetchone()
    assert row is not None
    return row[0], token


def test_invitation_created_and_revoked_each_leave_one_event(conn: Conn, world: World) -> None:
    a = world.a
    mark = _mark(conn)
    invitation, _ = _invite_as_admin(conn, world, "guest@example.com", REQUEST_ID)
    action, actor, target_type, target, changes, request_id = _one(
        _events_since(conn, a.org_id, mark)
    )
    assert (action, actor, target_type, target, request_id) == (
        "invitation.created",
        a.admin,
        "invitation",
        invitation,
        REQUEST_ID,
    )
    assert set(changes) == {"email", "role", "expires_at", "invited_by_user_id"}
    assert changes["email"] == {"old": None, "new": "guest@example.com"}
    assert changes["role"] == {"old": None, "new": "READ_ONLY"}
    assert changes["invited_by_user_id"] == {"old": None, "new": str(a.admin)}

    mark = _mark(conn)
    act_as(conn, a.admin, a.org_id, request_id="req-revoke")
    assert conn.execute(REVOKE_INVITATION, (invitation,)).rowcount == 1
    action, actor, _, target, changes, request_id = _one(_events_since(conn, a.org_id, mark))
    assert (action, actor, target, request_id) == (
        "invitation.revoked",
        a.admin,
        invitation,
        "req-revoke",
    )
    assert changes["email"] == {"old": "guest@example.com", "new": None}


def test_invitation_accepted_names_the_invitee(conn: Conn, world: World) -> None:
    a = world.a
    invitee = make_user(conn, "invitee")
    invitation, token = _invite_as_admin(conn, world, _email(conn, invitee), "req-invite")
    mark = _mark(conn)
    act_as(conn, invitee, None, request_id=REQUEST_ID)
    assert conn.execute("select * from iam.accept_invitation(%s)", (token,)).fetchall()
    events = _events_since(conn, a.org_id, mark)
    assert [e[:4] for e in events] == [
        ("invitation.accepted", invitee, "invitation", invitation),
        ("member.added", invitee, "member", invitee),
    ]
    changes = events[0][4]
    assert set(changes) == {"accepted_at", "accepted_by_user_id"}
    assert changes["accepted_by_user_id"] == {"old": None, "new": str(invitee)}
    assert {e[5] for e in events} == {REQUEST_ID}


def test_registering_with_an_invitation_records_its_acceptance(conn: Conn, world: World) -> None:
    a = world.a
    invitation, token = _invite_as_admin(conn, world, "newbie@example.com", "req-invite")
    mark = _mark(conn)
    act_as_anon(conn)
    conn.execute("select set_config('iam.request_id', %s, true)", (REQUEST_ID,))
    row = conn.execute(
        "select user_id from iam.register_invited('newbie@example.com', 'x', %s)", (token,)
    ).fetchone()
    assert row is not None
    user_id = row[0]
    # Nobody is signed in yet: the new user is the one acting.
    assert [(e[:4], e[5]) for e in _events_since(conn, a.org_id, mark)] == [
        (("invitation.accepted", user_id, "invitation", invitation), REQUEST_ID),
        (("member.added", user_id, "member", user_id), REQUEST_ID),
    ]


def test_expiry_and_the_purge_of_expired_invitations_record_nothing(
    conn: Conn, world: World
) -> None:
    a = world.a
    invitation, _ = _invite_as_admin(conn, world, "late@example.com", "req-invite")
    act_as_owner(conn)
    conn.execute(
        "update iam.invitations set created_at = now() - interval '8 days',"
        " expires_at = now() - interval '1 day' where id = %s",
        (invitation,),
    )
    mark = _mark(conn)
    # The next invitation purges the expired one first: only its own event.
    again, _ = _invite_as_admin(conn, world, "late@example.com", REQUEST_ID)
    act_as_owner(conn)
    gone = conn.execute("select count(*) from iam.invitations where id = %s", (invitation,))
    assert gone.fetchone() == (0,)
    assert [e[:4] for e in _events_since(conn, a.org_id, mark)] == [
        ("invitation.created", a.admin, "invitation", again)
    ]


def test_a_deleted_users_invitations_change_without_an_event(conn: Conn, world: World) -> None:
    # The foreign keys set invited_by_user_id to null: not a change of access.
    a = world.a
    inviter = make_user(conn, "inviter")
    add_member(conn, a.org_id, inviter, "ORG_ADMIN")
    act_as(conn, inviter, a.org_id)
    row = conn.execute(INVITE, ("orphan@example.com", "ORG_USER", "t-orphan")).fetchone()
    assert row is not None
    act_as_owner(conn)
    conn.execute("delete from iam.organization_memberships where user_id = %s", (inviter,))
    mark = _mark(conn)
    conn.execute("delete from iam.users where id = %s", (inviter,))
    left = conn.execute("select invited_by_user_id from iam.invitations where id = %s", (row[0],))
    assert left.fetchone() == (None,)
    assert _events_since(conn, a.org_id, mark) == []


def test_no_event_holds_a_token_or_its_digest(conn: Conn, world: World) -> None:
    a = world.a
    invitee = make_user(conn, "digest")
    invitation, token = _invite_as_admin(conn, world, _email(conn, invitee), REQUEST_ID)
    act_as(conn, invitee, None)
    conn.execute("select * from iam.accept_invitation(%s)", (token,))
    revoked, _ = _invite_as_admin(conn, world, "revoked@example.com", REQUEST_ID)
    act_as(conn, a.admin, a.org_id)
    assert conn.execute(REVOKE_INVITATION, (revoked,)).rowcount == 1
    act_as_owner(conn)
    texts = [
        str(row[0])
        for row in conn.execute(
            "select changes::text from iam.audit_events where target_id in (%s, %s)",
            (invitation, revoked),
        )
    ]
    assert len(texts) == 4  # created and accepted; created and revoked
    digest = hashlib.sha256(token.encode()).digest()
    for text in texts:
        assert token not in text
        assert digest.hex() not in text
        # A bytea in jsonb is its hex form, "\\x...".
        assert "\\x" not in text
    # Nor any stored digest, in any event, in the forms a bytea takes as text.
    leaked = conn.execute(
        "select count(*) from iam.audit_events as e join iam.invitations as i"
        " on strpos(e.changes::text, encode(i.token_hash, 'hex')) > 0"
        " or strpos(e.changes::text, encode(i.token_hash, 'base64')) > 0"
    ).fetchone()
    assert leaked == (0,)


# ------------------------------------------------------------------- reading

# Whose events each actor reads: only an ORG_ADMIN, only the active organization's.
READS = {ORG_ADMIN: "A", OTHER_ORG_ADMIN: "B"}


@pytest.mark.parametrize("actor", ACTORS)
def test_only_admins_read_their_organizations_events(conn: Conn, world: World, actor: str) -> None:
    act_as_owner(conn)
    own = conn.execute(
        "select count(*) from iam.audit_events where organization_id = %s", (world.a.org_id,)
    ).fetchone()
    assert own is not None and own[0] > 0
    become(conn, world, actor)
    seen = conn.execute("select distinct organization_id from iam.audit_events").fetchall()
    org = {"A": world.a.org_id, "B": world.b.org_id}.get(READS.get(actor, ""))
    assert seen == ([] if org is None else [(org,)])


# -------------------------------------------------------------- append-only

WRITES = {
    "insert": "insert into iam.audit_events (organization_id, actor_user_id, action,"
    " target_type, target_id, changes) values (%(org)s, %(actor)s, 'project.deleted',"
    " 'project', %(actor)s, '{}')",
    "update": "update iam.audit_events set actor_user_id = %(actor)s",
    "delete": "delete from iam.audit_events",
    "truncate": "truncate iam.audit_events",
    "call_trigger": "select iam.audit_project_change()",
}


def _api_login_role(conn: Conn) -> str:
    """A login role like the API's: a member of the two request roles, nothing else."""
    act_as_owner(conn)
    name = f"audit_api_{uuid.uuid4().hex[:8]}"
    conn.execute(f"create role {name} login noinherit")
    conn.execute(f"grant iam_anon, iam_authenticated to {name}")
    return name


def _count(conn: Conn) -> tuple[Any, ...] | None:
    act_as_owner(conn)
    return conn.execute(
        "select count(*), count(distinct actor_user_id), max(occurred_at) from iam.audit_events"
    ).fetchone()


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("role", ["iam_anon", "iam_authenticated", "api_login"])
def test_no_request_role_nor_the_api_login_role_can_write_events(
    conn: Conn, world: World, role: str, write: str
) -> None:
    before = _count(conn)
    name = _api_login_role(conn) if role == "api_login" else role
    params = {"org": world.a.org_id, "actor": world.a.admin}
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        # As an ORG_ADMIN of the organization: the most a request can be.
        act_as(conn, world.a.admin, world.a.org_id)
        conn.execute(f"set local role {name}")
        conn.execute(WRITES[write], params)
    assert _count(conn) == before


@pytest.mark.parametrize("role", ["iam_anon", "iam_authenticated", "api_login"])
def test_no_request_role_can_become_the_audit_writer(conn: Conn, role: str) -> None:
    # SET ROLE is checked against the session's login role, so the catalog
    # answers for a login: no path of memberships leads to iam_definer.
    name = _api_login_role(conn) if role == "api_login" else role
    row = conn.execute(
        "select pg_has_role(%s, 'iam_definer', 'MEMBER'), pg_has_role(%s, 'iam_definer', 'USAGE')",
        (name, name),
    ).fetchone()
    assert row == (False, False)


def test_audit_triggers_cannot_be_disabled_by_a_request_role(conn: Conn, world: World) -> None:
    act_as(conn, world.a.admin, world.a.org_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute("alter table iam.projects disable trigger projects_audit")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute("set local session_replication_role = replica")


def test_the_audit_writer_deletes_only_a_deleted_organizations_events(
    conn: Conn, world: World
) -> None:
    # Even iam_definer, whose triggers write the log, cannot erase or rewrite
    # a live organization's history: its policies show it only the events
    # of an organization that no longer exists.
    before = _count(conn)
    conn.execute("set local role iam_definer")
    assert conn.execute("select count(*) from iam.audit_events").fetchone() == (0,)
    assert conn.execute("delete from iam.audit_events").rowcount == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute("update iam.audit_events set actor_user_id = null")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute("truncate iam.audit_events")
    assert _count(conn) == before
