"""The role table of the README as the live database enforces it, measured by trying each action.

Everything happens in one transaction that is rolled back: a scratch tenant
is seeded as the connecting role, then each attempt runs in a savepoint as
iam_authenticated with a caller's context (or, for the anonymous actor, as
iam_anon with no context, as a request without a token), exactly the way
the API runs a request, and is rolled back before the next one. An attempt is denied when
PostgreSQL refuses it (42501), when it affects no row, or when the row is
not visible; anything else is reported as the SQLSTATE it raised.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from service.audit.connection import AuditError, Conn
from service.db.runner import SET_ANON_CONTEXT, SET_TENANT_CONTEXT_ONLY, tenant_context

ALLOWED = "allowed"
DENIED = "denied"
# Some but not all of the rows the action should see: neither allowed nor denied.
PARTIAL = "partial"

ANONYMOUS = "anonymous"
ACTORS = ("ORG_ADMIN", "ORG_USER", "READ_ONLY", "outsider", ANONYMOUS)
STATEMENT_TIMEOUT_MS = "5000"


@dataclass(frozen=True)
class Seed:
    """The scratch tenant: organization A with its members, and organization B next door."""

    org: uuid.UUID
    other_org: uuid.UUID
    admin: uuid.UUID
    co_admin: uuid.UUID
    user: uuid.UUID
    read_only: uuid.UUID
    outsider: uuid.UUID
    newcomer: uuid.UUID
    project: uuid.UUID
    other_project: uuid.UUID
    invitation: uuid.UUID
    other_invitation: uuid.UUID
    admin_email: str
    fresh_email: str

    def actor(self, name: str) -> uuid.UUID | None:
        return {
            "ORG_ADMIN": self.admin,
            "ORG_USER": self.user,
            "READ_ONLY": self.read_only,
            "outsider": self.outsider,
            ANONYMOUS: None,
        }[name]

    @property
    def members(self) -> set[uuid.UUID]:
        return {self.admin, self.co_admin, self.user, self.read_only}


Probe = Callable[[Conn, Seed, uuid.UUID | None], str]


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    sql: str  # what a DBA can rerun by hand; %(name)s are the seed's ids
    probe: Probe


def _visible(expected: set[uuid.UUID], seen: set[uuid.UUID], foreign: set[uuid.UUID]) -> str:
    if seen & foreign:
        return "leaks another organization's rows"
    if seen == expected:
        return ALLOWED
    return DENIED if not seen else PARTIAL


def _ids(conn: Conn, query: str, params: dict[str, object]) -> set[uuid.UUID]:
    return {row[0] for row in conn.execute(query, params)}


def _affected(conn: Conn, query: str, params: dict[str, object]) -> str:
    return ALLOWED if conn.execute(query, params).rowcount > 0 else DENIED


def _params(seed: Seed, actor: uuid.UUID | None) -> dict[str, object]:
    return {**dataclasses.asdict(seed), "me": actor}


def _read_org(conn: Conn, seed: Seed, actor: uuid.UUID | None) -> str:
    seen = _ids(conn, READ_ORG, _params(seed, actor))
    return _visible({seed.org}, seen, {seed.other_org})


def _list_projects(conn: Conn, seed: Seed, actor: uuid.UUID | None) -> str:
    seen = _ids(conn, LIST_PROJECTS, _params(seed, actor))
    return _visible({seed.project}, seen, {seed.other_project})


def _read_members(conn: Conn, seed: Seed, actor: uuid.UUID | None) -> str:
    seen = _ids(conn, READ_MEMBERS, _params(seed, actor))
    return _visible(seed.members, seen, {seed.outsider})


def _list_invitations(conn: Conn, seed: Seed, actor: uuid.UUID | None) -> str:
    seen = _ids(conn, LIST_INVITATIONS, _params(seed, actor))
    return _visible({seed.invitation}, seen, {seed.other_invitation})


def _read_tokens(conn: Conn, seed: Seed, actor: uuid.UUID | None) -> str:
    rows = conn.execute(READ_INVITATION_TOKENS).fetchall()
    return ALLOWED if rows else DENIED


def _read_audit_events(conn: Conn, seed: Seed, actor: uuid.UUID | None) -> str:
    # The expected answer is what the seeding changed in each organization,
    # whose events name it as their target: the organization, its members,
    # its project and its invitation. Not read from the table, so an event
    # filed under the wrong organization shows as a leak or a gap.
    seen = _ids(conn, READ_AUDIT_EVENTS, _params(seed, actor))
    own = {seed.org, *seed.members, seed.project, seed.invitation}
    other = {seed.other_org, seed.outsider, seed.other_project, seed.other_invitation}
    return _visible(own, seen, other)


def _statement(query: str) -> Probe:
    def probe(conn: Conn, seed: Seed, actor: uuid.UUID | None) -> str:
        return _affected(conn, query, _params(seed, actor))

    return probe


def _through_function(query: str, function: str, before: str) -> Probe:
    """A delete through its function; `before`, the plain DELETE, on a database
    rolled back to before request roles lost DELETE (docs/dba.md, "LOCK TABLE")."""

    def probe(conn: Conn, seed: Seed, actor: uuid.UUID | None) -> str:
        row = conn.execute(
            "select pg_catalog.to_regprocedure(%s) is not null", (function,)
        ).fetchone()
        return _affected(conn, query if row and row[0] else before, _params(seed, actor))

    return probe


READ_ORG = "select id from iam.organizations"
LIST_PROJECTS = "select id from iam.projects"
READ_MEMBERS = (
    "select m.user_id from iam.organization_memberships as m"
    " join iam.users as u on u.id = m.user_id"
)
CREATE_PROJECT = "insert into iam.projects (name) values ('matrix probe') returning id"
UPDATE_PROJECT = "update iam.projects set description = 'matrix probe' where id = %(project)s"
DELETE_PROJECT = "select 1 from iam.delete_project(%(project)s) where deleted"
ADD_MEMBER = (
    "insert into iam.organization_memberships (user_id, role)"
    " values (%(newcomer)s, 'ORG_USER') returning id"
)
INVITE_MEMBER = (
    "insert into iam.invitations (email, role, token_hash, expires_at)"
    " values ('matrix-invitee@example.invalid', 'ORG_USER',"
    " iam.invitation_token_hash('matrix probe'), now() + interval '1 day') returning id"
)
LIST_INVITATIONS = "select id from iam.invitations"
READ_INVITATION_TOKENS = "select token_hash from iam.invitations"
REVOKE_INVITATION = "select 1 where iam.revoke_invitation(%(invitation)s)"
RENAME_ORGANIZATION = "update iam.organizations set name = 'matrix probe' where id = %(org)s"
DELETE_ORGANIZATION = "select 1 from iam.delete_organization(%(org)s) where deleted"
# No organization filter in the probes: the policies alone scope them to the
# active organization, which is what the matrix measures.
CHANGE_ROLE = (
    "update iam.organization_memberships set role = 'ORG_USER' where user_id = %(co_admin)s"
)
REMOVE_MEMBER = "select 1 from iam.remove_member(%(co_admin)s) where deleted"
CREATE_ORGANIZATION = "select id from iam.create_organization('matrix probe')"
LEAVE = "select 1 from iam.remove_member(%(me)s) where deleted"
# The same deletes as plain SQL, the way request roles ran them before they
# lost table-level DELETE (a database rolled back past that migration).
DELETE_PROJECT_BEFORE = "delete from iam.projects where id = %(project)s"
REVOKE_INVITATION_BEFORE = "delete from iam.invitations where id = %(invitation)s"
DELETE_ORGANIZATION_BEFORE = "delete from iam.organizations where id = %(org)s"
REMOVE_MEMBER_BEFORE = "delete from iam.organization_memberships where user_id = %(co_admin)s"
LEAVE_BEFORE = "delete from iam.organization_memberships where user_id = %(me)s"
READ_AUDIT_EVENTS = "select target_id from iam.audit_events"
# The log is append-only: nobody inserts, changes or deletes an event by hand.
FORGE_AUDIT_EVENT = (
    "insert into iam.audit_events (organization_id, actor_user_id, action, target_type,"
    " target_id, changes) values (%(org)s, %(co_admin)s, 'project.deleted', 'project',"
    " %(project)s, '{}') returning id"
)
REWRITE_AUDIT_EVENT = "update iam.audit_events set actor_user_id = %(co_admin)s"
ERASE_AUDIT_EVENT = "delete from iam.audit_events"
# Before authentication: what a request without a token may ask the database.
REGISTER = "select user_id from iam.register(%(fresh_email)s, 'not a hash', 'matrix probe')"
# Reserves a failed attempt, hands out the stored hash for the API to
# verify, and leaves a row in iam.password_hash_handouts (docs/dba.md).
LOGIN_LOOKUP = (
    "select user_id from iam.login_attempt('matrix', %(admin_email)s, null, 1000, 60, 1000, 900)"
    " where user_id is not null"
)

ACTIONS = (
    Action("read_organization", "read the active organization", READ_ORG, _read_org),
    Action("list_projects", "list and read its projects", LIST_PROJECTS, _list_projects),
    Action("read_members", "list its members", READ_MEMBERS, _read_members),
    Action("create_project", "create a project", CREATE_PROJECT, _statement(CREATE_PROJECT)),
    Action("update_project", "update a project", UPDATE_PROJECT, _statement(UPDATE_PROJECT)),
    Action(
        "delete_project",
        "delete a project",
        DELETE_PROJECT,
        _through_function(DELETE_PROJECT, "iam.delete_project(uuid)", DELETE_PROJECT_BEFORE),
    ),
    Action(
        "add_member_directly",
        "add a member without an invitation",
        ADD_MEMBER,
        _statement(ADD_MEMBER),
    ),
    Action("invite_member", "invite a member", INVITE_MEMBER, _statement(INVITE_MEMBER)),
    Action("list_invitations", "list pending invitations", LIST_INVITATIONS, _list_invitations),
    Action(
        "read_invitation_tokens",
        "read an invitation's token digest",
        READ_INVITATION_TOKENS,
        _read_tokens,
    ),
    Action(
        "revoke_invitation",
        "revoke an invitation",
        REVOKE_INVITATION,
        _through_function(
            REVOKE_INVITATION, "iam.revoke_invitation(uuid)", REVOKE_INVITATION_BEFORE
        ),
    ),
    Action("change_role", "change a member's role", CHANGE_ROLE, _statement(CHANGE_ROLE)),
    Action(
        "remove_member",
        "remove a member",
        REMOVE_MEMBER,
        _through_function(REMOVE_MEMBER, "iam.remove_member(uuid)", REMOVE_MEMBER_BEFORE),
    ),
    Action(
        "create_organization",
        "create a new organization",
        CREATE_ORGANIZATION,
        _statement(CREATE_ORGANIZATION),
    ),
    Action(
        "rename_organization",
        "rename the organization",
        RENAME_ORGANIZATION,
        _statement(RENAME_ORGANIZATION),
    ),
    Action(
        "delete_organization",
        "delete the organization",
        DELETE_ORGANIZATION,
        _through_function(
            DELETE_ORGANIZATION, "iam.delete_organization(uuid)", DELETE_ORGANIZATION_BEFORE
        ),
    ),
    Action(
        "leave_organization",
        "leave the organization",
        LEAVE,
        _through_function(LEAVE, "iam.remove_member(uuid)", LEAVE_BEFORE),
    ),
    Action("read_audit_events", "read its audit log", READ_AUDIT_EVENTS, _read_audit_events),
    Action(
        "forge_audit_event",
        "insert an audit event",
        FORGE_AUDIT_EVENT,
        _statement(FORGE_AUDIT_EVENT),
    ),
    Action(
        "rewrite_audit_events",
        "change an audit event",
        REWRITE_AUDIT_EVENT,
        _statement(REWRITE_AUDIT_EVENT),
    ),
    Action(
        "erase_audit_events",
        "delete an audit event",
        ERASE_AUDIT_EVENT,
        _statement(ERASE_AUDIT_EVENT),
    ),
    Action("register", "register a user and an organization", REGISTER, _statement(REGISTER)),
    Action(
        "login_lookup",
        "look up a login (the hash to verify, traced)",
        LOGIN_LOOKUP,
        _statement(LOGIN_LOOKUP),
    ),
)


@dataclass(frozen=True)
class Matrix:
    actors: tuple[str, ...]
    results: dict[str, dict[str, str]]  # action key -> actor -> outcome


def measure(conn: Conn) -> Matrix:
    """Seed, try every action as every actor, roll everything back."""
    _require_privileges(conn)
    results: dict[str, dict[str, str]] = {}
    with conn.transaction(force_rollback=True):
        seed = _seed(conn)
        for action in ACTIONS:
            results[action.key] = {
                actor: _attempt(conn, seed, seed.actor(actor), action) for actor in ACTORS
            }
    return Matrix(actors=ACTORS, results=results)


def _attempt(conn: Conn, seed: Seed, actor: uuid.UUID | None, action: Action) -> str:
    """One try as (actor, organization A), in a savepoint that is always rolled back."""
    try:
        with conn.transaction(force_rollback=True):
            if actor is None:
                conn.execute(SET_ANON_CONTEXT, (STATEMENT_TIMEOUT_MS, ""))
            else:
                # Only the context: the policies read the caller's role themselves, on
                # every schema version this release can roll back to.
                conn.execute(
                    SET_TENANT_CONTEXT_ONLY, tenant_context(actor, seed.org, STATEMENT_TIMEOUT_MS)
                )
            return action.probe(conn, seed, actor)
    except psycopg.errors.InsufficientPrivilege:
        return DENIED
    except psycopg.Error as error:
        return f"error {error.sqlstate}"


def _require_privileges(conn: Conn) -> None:
    row = conn.execute(
        "select r.rolsuper or r.rolbypassrls,"
        " pg_has_role(current_user, 'iam_authenticated', 'MEMBER')"
        " and pg_has_role(current_user, 'iam_anon', 'MEMBER')"
        " from pg_roles as r where r.rolname = current_user"
    ).fetchone()
    if row is None or not row[0]:
        raise AuditError(
            "the matrix seeds a scratch tenant (rolled back) past row-level security: "
            "connect as a superuser or a role with BYPASSRLS (on Supabase, postgres)"
        )
    if not row[1]:
        raise AuditError(
            "the connecting role cannot SET ROLE iam_authenticated and iam_anon: connect as"
            " the role that ran the migrations"
        )


def _seed(conn: Conn) -> Seed:
    tag = uuid.uuid4().hex[:8]

    def user(label: str) -> uuid.UUID:
        return _returning_id(
            conn,
            "insert into iam.users (email, password_hash) values (%s, 'not a hash') returning id",
            (f"matrix-{label}-{tag}@example.invalid",),
        )

    def organization(label: str) -> uuid.UUID:
        return _returning_id(
            conn, "insert into iam.organizations (name) values (%s) returning id", (label,)
        )

    def member(org: uuid.UUID, who: uuid.UUID, role: str) -> None:
        conn.execute(
            "insert into iam.organization_memberships (organization_id, user_id, role)"
            " values (%s, %s, %s)",
            (org, who, role),
        )

    def invitation(org: uuid.UUID, inviter: uuid.UUID) -> uuid.UUID:
        # Stored the way a request stores one: as the inviting admin.
        conn.execute(
            "select set_config('iam.user_id', %s, true), set_config('iam.org_id', %s, true)",
            (str(inviter), str(org)),
        )
        invitation_id = _returning_id(
            conn,
            "insert into iam.invitations (email, role, token_hash, expires_at)"
            " values (%s, 'READ_ONLY', iam.invitation_token_hash(%s), now() + interval '1 day')"
            " returning id",
            (f"matrix-invited-{tag}@example.invalid", uuid.uuid4().hex),
        )
        conn.execute(
            "select set_config('iam.user_id', '', true), set_config('iam.org_id', '', true)"
        )
        return invitation_id

    def project(org: uuid.UUID, creator: uuid.UUID) -> uuid.UUID:
        return _returning_id(
            conn,
            "insert into iam.projects (organization_id, name, created_by_user_id)"
            " values (%s, 'matrix project', %s) returning id",
            (org, creator),
        )

    org, other_org = organization("matrix tenant"), organization("matrix neighbour")
    admin, co_admin, member_user = user("admin"), user("co-admin"), user("user")
    read_only, outsider, newcomer = user("read-only"), user("outsider"), user("newcomer")
    # A second ORG_ADMIN: the first one may leave, and the admin actions have a
    # target other than the caller.
    member(org, admin, "ORG_ADMIN")
    member(org, co_admin, "ORG_ADMIN")
    member(org, member_user, "ORG_USER")
    member(org, read_only, "READ_ONLY")
    # The outsider is no lightweight: the ORG_ADMIN of the organization next door.
    member(other_org, outsider, "ORG_ADMIN")
    first_project, other_project = project(org, admin), project(other_org, outsider)
    return Seed(
        org=org,
        other_org=other_org,
        admin=admin,
        co_admin=co_admin,
        user=member_user,
        read_only=read_only,
        outsider=outsider,
        newcomer=newcomer,
        project=first_project,
        other_project=other_project,
        invitation=invitation(org, admin),
        other_invitation=invitation(other_org, outsider),
        admin_email=f"matrix-admin-{tag}@example.invalid",
        fresh_email=f"matrix-fresh-{tag}@example.invalid",
    )


def _returning_id(conn: Conn, query: str, params: tuple[object, ...]) -> uuid.UUID:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))
