"""Acting as a tenant in raw SQL, the way the API does, for SQL-level tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from service.db.runner import SET_ANON_CONTEXT

# The context as README's example sets it, with any text at all: the API's
# own statement (service/db/runner.py) also reads the caller through uuid
# arguments, so a malformed context would stop there before the policies
# under test ever read it.
SET_CONTEXT = (
    "select set_config('role', 'iam_authenticated', true),"
    " set_config('iam.user_id', %s, true),"
    " set_config('iam.org_id', %s, true),"
    " set_config('statement_timeout', %s, true),"
    " set_config('iam.session_id', %s, true),"
    " set_config('iam.request_id', %s, true)"
)

Conn = psycopg.Connection[Any]

# The deletes a request makes. Request roles hold no DELETE (it would let
# them LOCK a table in every mode): each delete is a function that runs as
# iam_deleter with the caller's context, under the same policies. Each
# statement returns one row per row deleted, so .rowcount counts them the
# way a DELETE's would.
DELETE_PROJECT = "select 1 from iam.delete_project(%s) where deleted"
DELETE_ORGANIZATION = "select 1 from iam.delete_organization(%s) where deleted"
REMOVE_MEMBER = "select 1 from iam.remove_member(%s) where deleted"
REVOKE_INVITATION = "select 1 where iam.revoke_invitation(%s)"
END_SESSION = "select 1 where iam.end_session(%s)"
# The same for a list of ids (a uuid[] parameter).
DELETE_PROJECTS = (
    "select 1 from unnest(%s::uuid[]) as t(id) cross join lateral iam.delete_project(t.id) as d"
    " where d.deleted"
)
REMOVE_MEMBERS = (
    "select 1 from unnest(%s::uuid[]) as t(id) cross join lateral iam.remove_member(t.id) as r"
    " where r.deleted"
)


def act_as(
    conn: Conn,
    user_id: uuid.UUID | str | None,
    org_id: uuid.UUID | str | None,
    session_id: uuid.UUID | str | None = None,
    request_id: str = "",
) -> None:
    """Switch this transaction to iam_authenticated with the given context ('' when None)."""
    conn.execute("reset role")
    conn.execute(
        SET_CONTEXT,
        (
            "" if user_id is None else str(user_id),
            "" if org_id is None else str(org_id),
            "5000",
            "" if session_id is None else str(session_id),
            request_id,
        ),
    )


def act_as_anon(conn: Conn) -> None:
    """Switch this transaction to iam_anon, the role of requests before authentication."""
    conn.execute("reset role")
    conn.execute(SET_ANON_CONTEXT, ("5000", ""))


def act_as_owner(conn: Conn) -> None:
    conn.execute("reset role")


@dataclass
class SeededOrganization:
    org_id: uuid.UUID
    admin: uuid.UUID
    user: uuid.UUID
    read_only: uuid.UUID
    project_ids: list[uuid.UUID] = field(default_factory=list)


def _user(conn: Conn, email: str) -> uuid.UUID:
    row = conn.execute(
        "insert into iam.users (email, password_hash) values (%s, 'x') returning id", (email,)
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def make_tenant(conn: Conn, label: str, projects: int = 2) -> SeededOrganization:
    """An organization with one member of each role and a few projects, inserted as the owner."""
    act_as_owner(conn)
    suffix = uuid.uuid4().hex[:8]
    row = conn.execute(
        "insert into iam.organizations (name) values (%s) returning id", (f"{label} {suffix}",)
    ).fetchone()
    assert row is not None
    org_id = uuid.UUID(str(row[0]))
    tenant = SeededOrganization(
        org_id=org_id,
        admin=_user(conn, f"admin-{label}-{suffix}@example.com"),
        user=_user(conn, f"user-{label}-{suffix}@example.com"),
        read_only=_user(conn, f"ro-{label}-{suffix}@example.com"),
    )
    for user_id, role in (
        (tenant.admin, "ORG_ADMIN"),
        (tenant.user, "ORG_USER"),
        (tenant.read_only, "READ_ONLY"),
    ):
        conn.execute(
            "insert into iam.organization_memberships (organization_id, user_id, role)"
            " values (%s, %s, %s)",
            (org_id, user_id, role),
        )
    for n in range(projects):
        row = conn.execute(
            "insert into iam.projects (organization_id, name, created_by_user_id)"
            " values (%s, %s, %s) returning id",
            (org_id, f"{label} project {n}", tenant.admin),
        ).fetchone()
        assert row is not None
        tenant.project_ids.append(uuid.UUID(str(row[0])))
    return tenant


def make_user(conn: Conn, label: str) -> uuid.UUID:
    act_as_owner(conn)
    return _user(conn, f"{label}-{uuid.uuid4().hex[:8]}@example.com")


def add_member(conn: Conn, org_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
    """Add a membership as the owner (setting up a scenario, not exercising a policy)."""
    act_as_owner(conn)
    conn.execute(
        "insert into iam.organization_memberships (organization_id, user_id, role)"
        " values (%s, %s, %s)",
        (org_id, user_id, role),
    )


def ids(conn: Conn, query: str, params: tuple[object, ...] = ()) -> set[uuid.UUID]:
    """The first column of every row, as a set of UUIDs."""
    return {uuid.UUID(str(row[0])) for row in conn.execute(query, params).fetchall()}


# ------------------------------------------------------------------ actors
# Every actor of the access matrix, acting in a world of two organizations.
# A, B: tenants with one member of each role; `extra` is a second ORG_USER of
# A, the target of member changes; `outsider` is a user with no membership.


@dataclass(frozen=True)
class World:
    a: SeededOrganization
    b: SeededOrganization
    extra: uuid.UUID
    outsider: uuid.UUID


ORG_ADMIN = "ORG_ADMIN"
ORG_USER = "ORG_USER"
READ_ONLY = "READ_ONLY"
# An admin of organization B, acting in B, on A's rows.
OTHER_ORG_ADMIN = "OTHER_ORG_ADMIN"
# The same admin of B with a context that names organization A (a forged or stale token).
OTHER_ORG_ADMIN_CLAIMING_A = "OTHER_ORG_ADMIN_CLAIMING_A"
# A registered user without any membership, with organization A as context.
NON_MEMBER = "NON_MEMBER"
# The runtime role with iam.user_id / iam.org_id never set on the connection.
NO_CONTEXT = "NO_CONTEXT"
EMPTY_CONTEXT = "EMPTY_CONTEXT"
# A malformed context is no actor of the matrix: it reads or writes nothing
# because its statement fails (22P02), which tests/db/test_context_fail_closed.py
# asserts for every table and every kind of write.

MEMBERS_OF_A = (ORG_ADMIN, ORG_USER, READ_ONLY)
ACTORS = (
    ORG_ADMIN,
    ORG_USER,
    READ_ONLY,
    OTHER_ORG_ADMIN,
    OTHER_ORG_ADMIN_CLAIMING_A,
    NON_MEMBER,
    NO_CONTEXT,
    EMPTY_CONTEXT,
)


def make_world(conn: Conn) -> World:
    a = make_tenant(conn, "a")
    b = make_tenant(conn, "b")
    extra = make_user(conn, "extra-a")
    add_member(conn, a.org_id, extra, "ORG_USER")
    return World(a=a, b=b, extra=extra, outsider=make_user(conn, "outsider"))


def actor_user(world: World, actor: str) -> uuid.UUID | None:
    """The user an actor acts as (None for the context-less actors)."""
    return {
        ORG_ADMIN: world.a.admin,
        ORG_USER: world.a.user,
        READ_ONLY: world.a.read_only,
        OTHER_ORG_ADMIN: world.b.admin,
        OTHER_ORG_ADMIN_CLAIMING_A: world.b.admin,
        NON_MEMBER: world.outsider,
    }.get(actor)


def become(conn: Conn, world: World, actor: str) -> None:
    """Switch the current transaction to iam_authenticated as one actor of the matrix."""
    if actor == NO_CONTEXT:
        conn.execute("reset role")
        conn.execute("set local role iam_authenticated")
        return
    if actor == EMPTY_CONTEXT:
        act_as(conn, None, None)
        return
    org = world.b.org_id if actor == OTHER_ORG_ADMIN else world.a.org_id
    act_as(conn, actor_user(world, actor), org)


# ------------------------------------------------------------ committed data
# Tests about what happens across transactions or connections need data that
# is really committed, so they cannot use the rolled-back `conn`. Each uses
# fresh organizations and users, deletes them afterwards, and bounds every
# wait so that a lock that is never released fails the test instead of
# hanging it.

BOUNDED = "-c lock_timeout=5000 -c statement_timeout=10000"


def connect(conninfo: str, *, autocommit: bool = False) -> Conn:
    return psycopg.connect(conninfo, autocommit=autocommit, options=BOUNDED)


@dataclass
class Committed:
    conninfo: str
    tenants: list[SeededOrganization] = field(default_factory=list)
    users: list[uuid.UUID] = field(default_factory=list)

    def tenant(self, label: str, projects: int = 2) -> SeededOrganization:
        with connect(self.conninfo) as setup:
            tenant = make_tenant(setup, label, projects)
            setup.commit()
        self.tenants.append(tenant)
        return tenant

    def member(self, org_id: uuid.UUID, role: str, label: str = "member") -> uuid.UUID:
        with connect(self.conninfo) as setup:
            user_id = make_user(setup, label)
            add_member(setup, org_id, user_id, role)
            setup.commit()
        self.users.append(user_id)
        return user_id

    def cleanup(self) -> None:
        orgs = [t.org_id for t in self.tenants]
        users = [u for t in self.tenants for u in (t.admin, t.user, t.read_only)] + self.users
        with connect(self.conninfo, autocommit=True) as owner:
            owner.execute("delete from iam.organizations where id = any(%s)", (orgs,))
            owner.execute("delete from iam.users where id = any(%s)", (users,))


@contextmanager
def committed(conninfo: str) -> Iterator[Committed]:
    data = Committed(conninfo)
    try:
        yield data
    finally:
        data.cleanup()
