"""The role table (README, section 5) over HTTP: each endpoint, for each caller, on own,
foreign and missing resources.

Callers: ORG_ADMIN, ORG_USER and READ_ONLY of tenant A; the ORG_ADMIN of tenant B
(another organization's admin); a former member of A whose token predates their
removal; and an anonymous client. Resources are relative to the caller's active
organization: "own" lives in it, "foreign" lives in the other tenant, "missing"
exists nowhere. A resource the caller cannot see is 404, never 403; 403 is for a
visible resource whose action the caller's role does not allow.

The public endpoints (register, login) take the same callers: login as that
caller's user into each organization, register with that caller's token sent
along (and ignored).

Each cell checks the status and body, then checks through the owning admin (or
as the database owner) that a refused request changed nothing and an allowed
one did what it said.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import (
    PASSWORD,
    Actor,
    Org,
    accept,
    add_member,
    assert_problem,
    invite,
    make_org,
    owner_sql,
    register,
    unique_email,
)
from tests.support.database import TestDatabase

ROLES = ["admin", "user", "read_only", "other_admin", "removed", "anonymous"]
RESOURCES = ["own", "foreign", "missing"]

PROJECT_FIELDS = {
    "id",
    "organization_id",
    "name",
    "description",
    "created_by_user_id",
    "created_at",
    "updated_at",
}
MEMBER_FIELDS = {"user_id", "email", "role", "created_at"}
ORGANIZATION_FIELDS = {"id", "name", "role", "created_at"}


@dataclass
class Spare:
    """A registered user the tests add to, change in and remove from an organization."""

    user_id: str
    email: str
    token: str


@dataclass
class World:
    a: Org
    b: Org
    removed: Actor
    # Kept a READ_ONLY member of A (of B) by the member fixtures.
    member_a: Spare
    member_b: Spare


@dataclass
class Caller:
    role: str  # ORG_ADMIN, ORG_USER, READ_ONLY, REMOVED or ANONYMOUS
    actor: Actor | None
    own: Org
    foreign: Org

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.actor is None else self.actor.headers


@pytest.fixture(scope="module")
def world(client: TestClient) -> World:
    a = make_org(client, "a-admin", "Apollo")
    b = make_org(client, "b-admin", "Zeus")
    removed = add_member(client, a.admin, "ORG_USER", "removed")
    response = client.delete(f"/members/{removed.user_id}", headers=a.admin.headers)
    assert response.status_code == 204, response.text
    spare_a = register(client, "spare-a")
    spare_b = register(client, "spare-b")
    return World(
        a,
        b,
        removed,
        Spare(spare_a.user_id, spare_a.email, spare_a.token),
        Spare(spare_b.user_id, spare_b.email, spare_b.token),
    )


def caller_for(world: World, role: str) -> Caller:
    a, b = world.a, world.b
    return {
        "admin": Caller("ORG_ADMIN", a.admin, a, b),
        "user": Caller("ORG_USER", a.user, a, b),
        "read_only": Caller("READ_ONLY", a.read_only, a, b),
        "other_admin": Caller("ORG_ADMIN", b.admin, b, a),
        "removed": Caller("REMOVED", world.removed, a, b),
        "anonymous": Caller("ANONYMOUS", None, a, b),
    }[role]


def expected_status(caller: Caller, resource: str, allowed: set[str], success: int) -> int:
    """The answer README §5's role table promises for an action on a single resource."""
    if caller.role == "ANONYMOUS":
        return 401
    if caller.role == "REMOVED":
        return 403
    if resource != "own":
        return 404
    return success if caller.role in allowed else 403


def check_refusal(response: httpx.Response, status: int) -> None:
    assert_problem(response, status)


def new_project(client: TestClient, org: Org) -> dict[str, Any]:
    response = client.post(
        "/projects",
        json={"name": f"p-{uuid.uuid4().hex[:10]}", "description": "before"},
        headers=org.admin.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def ensure_read_only_member(client: TestClient, org: Org, spare: Spare) -> None:
    response = client.patch(
        f"/members/{spare.user_id}", json={"role": "READ_ONLY"}, headers=org.admin.headers
    )
    if response.status_code == 404:
        # Removed by an earlier test: invited again, and the spare accepts.
        invitation = invite(client, org.admin, spare.email, "READ_ONLY")
        accept(client, Actor(spare.user_id, spare.email, "", spare.token), invitation["token"])
    else:
        assert response.status_code == 200, response.text


def membership_role(database: TestDatabase, org: Org, user_id: str) -> str | None:
    rows = owner_sql(
        database,
        "select role::text from iam.organization_memberships"
        " where organization_id = %s and user_id = %s",
        (org.admin.org_id, user_id),
    )
    return str(rows[0][0]) if rows else None


# ------------------------------------------------------------------ single projects


def _project_target(
    client: TestClient, caller: Caller, resource: str
) -> tuple[str, Org | None, dict[str, Any] | None]:
    if resource == "missing":
        return str(uuid.uuid4()), None, None
    owner = caller.own if resource == "own" else caller.foreign
    project = new_project(client, owner)
    return str(project["id"]), owner, project


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_get_project(client: TestClient, world: World, role: str, resource: str) -> None:
    caller = caller_for(world, role)
    project_id, _, project = _project_target(client, caller, resource)
    status = expected_status(caller, resource, {"ORG_ADMIN", "ORG_USER", "READ_ONLY"}, 200)

    response = client.get(f"/projects/{project_id}", headers=caller.headers)

    if status == 200:
        assert response.status_code == 200, response.text
        assert response.json() == project
    else:
        check_refusal(response, status)


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_update_project(client: TestClient, world: World, role: str, resource: str) -> None:
    caller = caller_for(world, role)
    project_id, owner, project = _project_target(client, caller, resource)
    status = expected_status(caller, resource, {"ORG_ADMIN", "ORG_USER"}, 200)

    response = client.patch(
        f"/projects/{project_id}", json={"description": "after"}, headers=caller.headers
    )

    if status == 200:
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == PROJECT_FIELDS
        assert body["description"] == "after"
        assert body["organization_id"] == caller.own.admin.org_id
    else:
        check_refusal(response, status)
    if owner is not None and project is not None:
        seen = client.get(f"/projects/{project_id}", headers=owner.admin.headers).json()
        assert seen["description"] == ("after" if status == 200 else "before")


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_delete_project(client: TestClient, world: World, role: str, resource: str) -> None:
    caller = caller_for(world, role)
    project_id, owner, _ = _project_target(client, caller, resource)
    status = expected_status(caller, resource, {"ORG_ADMIN"}, 204)

    response = client.delete(f"/projects/{project_id}", headers=caller.headers)

    if status == 204:
        assert response.status_code == 204, response.text
        assert response.content == b""
    else:
        check_refusal(response, status)
    if owner is not None:
        after = client.get(f"/projects/{project_id}", headers=owner.admin.headers)
        assert after.status_code == (404 if status == 204 else 200)


# ------------------------------------------------------------------ single members


def _member_target(world: World, caller: Caller, resource: str) -> tuple[str, Org | None]:
    if resource == "missing":
        return str(uuid.uuid4()), None
    owner = caller.own if resource == "own" else caller.foreign
    spare = world.member_a if owner is world.a else world.member_b
    return spare.user_id, owner


@pytest.fixture
def spare_members(client: TestClient, world: World) -> World:
    """Both spares are READ_ONLY members of their organization when the test starts."""
    ensure_read_only_member(client, world.a, world.member_a)
    ensure_read_only_member(client, world.b, world.member_b)
    return world


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_change_member_role(
    client: TestClient, database: TestDatabase, spare_members: World, role: str, resource: str
) -> None:
    caller = caller_for(spare_members, role)
    user_id, owner = _member_target(spare_members, caller, resource)
    status = expected_status(caller, resource, {"ORG_ADMIN"}, 200)

    response = client.patch(
        f"/members/{user_id}", json={"role": "ORG_USER"}, headers=caller.headers
    )

    if status == 200:
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == MEMBER_FIELDS
        assert (body["user_id"], body["role"]) == (user_id, "ORG_USER")
    else:
        check_refusal(response, status)
    if owner is not None:
        expected_role = "ORG_USER" if status == 200 else "READ_ONLY"
        assert membership_role(database, owner, user_id) == expected_role


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_remove_member(
    client: TestClient, database: TestDatabase, spare_members: World, role: str, resource: str
) -> None:
    caller = caller_for(spare_members, role)
    user_id, owner = _member_target(spare_members, caller, resource)
    status = expected_status(caller, resource, {"ORG_ADMIN"}, 204)

    response = client.delete(f"/members/{user_id}", headers=caller.headers)

    if status == 204:
        assert response.status_code == 204, response.text
        assert response.content == b""
    else:
        check_refusal(response, status)
    if owner is not None:
        expected_role = None if status == 204 else "READ_ONLY"
        assert membership_role(database, owner, user_id) == expected_role


# ------------------------------------------------------------------ invitations
# The "resource" of POST /invitations is the email: a registered user who is
# not a member yet, one who already is, and an email nobody registered. A
# registered and an unregistered email get the same answer.

INVITE_RESOURCES = ["registered", "already_member", "unknown_email"]
INVITATION_FIELDS = {"id", "email", "role", "created_at", "expires_at", "invited_by_user_id"}


def pending_invitations(database: TestDatabase, org: Org, email: str) -> int:
    rows = owner_sql(
        database,
        "select count(*) from iam.invitations"
        " where organization_id = %s and email = %s and accepted_at is null",
        (org.admin.org_id, email),
    )
    return int(rows[0][0])


@pytest.mark.parametrize("resource", INVITE_RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_create_invitation(
    client: TestClient, database: TestDatabase, world: World, role: str, resource: str
) -> None:
    caller = caller_for(world, role)
    if resource == "registered":
        email = register(client, "invitee").email
        success = 201
    elif resource == "already_member":
        email = caller.own.read_only.email
        success = 409
    else:
        email = unique_email("nobody")
        success = 201
    if caller.role == "ANONYMOUS":
        status = 401
    elif caller.role == "ORG_ADMIN":
        status = success
    else:
        status = 403

    response = client.post(
        "/invitations", json={"email": email, "role": "ORG_USER"}, headers=caller.headers
    )

    if status == 201:
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == INVITATION_FIELDS | {"token"}
        assert (body["email"], body["role"]) == (email, "ORG_USER")
        assert caller.actor is not None
        assert body["invited_by_user_id"] == caller.actor.user_id
        assert pending_invitations(database, caller.own, email) == 1
    else:
        check_refusal(response, status)
        assert pending_invitations(database, caller.own, email) == 0


def test_post_members_no_longer_adds_anyone(client: TestClient, world: World) -> None:
    newcomer = register(client, "direct")
    response = client.post(
        "/members",
        json={"email": newcomer.email, "role": "ORG_ADMIN"},
        headers=world.a.admin.headers,
    )
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("role", ROLES)
def test_list_invitations(client: TestClient, world: World, role: str) -> None:
    caller = caller_for(world, role)
    mine = invite(client, caller.own.admin, unique_email("listed"), "READ_ONLY")
    theirs = invite(client, caller.foreign.admin, unique_email("hidden"), "READ_ONLY")
    status = _collection_status(caller, {"ORG_ADMIN"}, 200)

    response = client.get("/invitations?limit=100", headers=caller.headers)

    if status == 200:
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        ids = {item["id"] for item in items}
        assert mine["id"] in ids and theirs["id"] not in ids
        assert all(set(item) == INVITATION_FIELDS for item in items)
        assert mine["token"] not in response.text
    else:
        check_refusal(response, status)


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_get_invitation(client: TestClient, world: World, role: str, resource: str) -> None:
    caller = caller_for(world, role)
    owner = caller.own if resource == "own" else caller.foreign
    email = unique_email("shown")
    invitation = (
        {"id": str(uuid.uuid4())}
        if resource == "missing"
        else invite(client, owner.admin, email, "READ_ONLY")
    )
    if caller.role == "ANONYMOUS":
        status = 401
    elif caller.role in ("REMOVED", "ORG_USER", "READ_ONLY"):
        # Refused before any lookup, as listing and revoking are.
        status = 403
    else:
        status = 200 if resource == "own" else 404

    response = client.get(f"/invitations/{invitation['id']}", headers=caller.headers)

    if status == 200:
        assert response.status_code == 200, response.text
        shown = response.json()
        assert shown == {k: v for k, v in invitation.items() if k != "token"}
        assert "token" not in response.text
    else:
        check_refusal(response, status)


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_revoke_invitation(
    client: TestClient, database: TestDatabase, world: World, role: str, resource: str
) -> None:
    caller = caller_for(world, role)
    owner = caller.own if resource == "own" else caller.foreign
    email = unique_email("revoked")
    invitation_id = (
        str(uuid.uuid4())
        if resource == "missing"
        else invite(client, owner.admin, email, "ORG_USER")["id"]
    )
    if caller.role == "ANONYMOUS":
        status = 401
    elif caller.role in ("REMOVED", "ORG_USER", "READ_ONLY"):
        # Refused before any lookup: the answer says nothing of the id.
        status = 403
    else:
        status = 204 if resource == "own" else 404

    response = client.delete(f"/invitations/{invitation_id}", headers=caller.headers)

    if status == 204:
        assert response.status_code == 204, response.text
    else:
        check_refusal(response, status)
    if resource != "missing":
        assert pending_invitations(database, owner, email) == (0 if status == 204 else 1)


# ------------------------------------------------------------------ the active organization


def _organization_target(caller: Caller, resource: str) -> str:
    if resource == "missing":
        return str(uuid.uuid4())
    return (caller.own if resource == "own" else caller.foreign).admin.org_id


def organization_name(database: TestDatabase, org_id: str) -> str | None:
    rows = owner_sql(database, "select name from iam.organizations where id = %s", (org_id,))
    return str(rows[0][0]) if rows else None


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_get_organization(client: TestClient, world: World, role: str, resource: str) -> None:
    caller = caller_for(world, role)
    org_id = _organization_target(caller, resource)
    status = expected_status(caller, resource, {"ORG_ADMIN", "ORG_USER", "READ_ONLY"}, 200)

    response = client.get(f"/organizations/{org_id}", headers=caller.headers)

    if status == 200:
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == ORGANIZATION_FIELDS
        assert (body["id"], body["role"]) == (org_id, caller.role)
    else:
        check_refusal(response, status)


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_rename_organization(
    client: TestClient, database: TestDatabase, world: World, role: str, resource: str
) -> None:
    caller = caller_for(world, role)
    org_id = _organization_target(caller, resource)
    before = organization_name(database, org_id)
    status = expected_status(caller, resource, {"ORG_ADMIN"}, 200)
    name = f"Renamed {uuid.uuid4().hex[:6]}"

    response = client.patch(f"/organizations/{org_id}", json={"name": name}, headers=caller.headers)

    if status == 200:
        assert response.status_code == 200, response.text
        assert response.json()["name"] == name
        assert organization_name(database, org_id) == name
    else:
        check_refusal(response, status)
        assert organization_name(database, org_id) == before


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_delete_organization(
    client: TestClient, database: TestDatabase, world: World, role: str, resource: str
) -> None:
    caller = caller_for(world, role)
    if resource == "own" and caller.role == "ORG_ADMIN":
        # A tenant of its own: the world's organizations must survive.
        doomed = make_org(client, "doomed", "Doomed")
        caller = Caller("ORG_ADMIN", doomed.admin, doomed, caller.foreign)
    org_id = _organization_target(caller, resource)
    status = expected_status(caller, resource, {"ORG_ADMIN"}, 204)

    response = client.delete(f"/organizations/{org_id}", headers=caller.headers)

    if status == 204:
        assert response.status_code == 204, response.text
        assert organization_name(database, org_id) is None
    else:
        check_refusal(response, status)
        if resource != "missing":
            assert organization_name(database, org_id) is not None


READERS = {"ORG_ADMIN", "ORG_USER", "READ_ONLY"}
SIGN_IN_FIELDS = {
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_expires_in",
    "organization",
    "role",
}


def _collection_status(caller: Caller, allowed: set[str], success: int) -> int:
    if caller.role == "ANONYMOUS":
        return 401
    if caller.role == "REMOVED":
        return 403
    return success if caller.role in allowed else 403


@pytest.mark.parametrize("role", ROLES)
def test_list_projects(client: TestClient, world: World, role: str) -> None:
    caller = caller_for(world, role)
    status = _collection_status(caller, READERS, 200)

    response = client.get("/projects?limit=100", headers=caller.headers)

    if status != 200:
        check_refusal(response, status)
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    ids = {item["id"] for item in body["items"]}
    assert caller.own.project_id in ids
    assert caller.foreign.project_id not in ids
    assert {item["organization_id"] for item in body["items"]} == {caller.own.admin.org_id}
    for item in body["items"]:
        assert set(item) == PROJECT_FIELDS


@pytest.mark.parametrize("role", ROLES)
def test_create_project(
    client: TestClient, database: TestDatabase, world: World, role: str
) -> None:
    caller = caller_for(world, role)
    status = _collection_status(caller, {"ORG_ADMIN", "ORG_USER"}, 201)
    name = f"new-{uuid.uuid4().hex[:10]}"

    response = client.post("/projects", json={"name": name}, headers=caller.headers)

    written = owner_sql(
        database, "select organization_id::text from iam.projects where name = %s", (name,)
    )
    if status != 201:
        check_refusal(response, status)
        assert written == []
        return
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == PROJECT_FIELDS
    assert caller.actor is not None
    assert body["organization_id"] == caller.own.admin.org_id
    assert body["created_by_user_id"] == caller.actor.user_id
    assert (body["name"], body["description"]) == (name, None)
    assert written == [(caller.own.admin.org_id,)]


@pytest.mark.parametrize("role", ROLES)
def test_list_members(client: TestClient, world: World, role: str) -> None:
    caller = caller_for(world, role)
    status = _collection_status(caller, READERS, 200)

    response = client.get("/members?limit=100", headers=caller.headers)

    if status != 200:
        check_refusal(response, status)
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    roles = {item["user_id"]: item["role"] for item in body["items"]}
    own = caller.own
    assert roles[own.admin.user_id] == "ORG_ADMIN"
    assert roles[own.user.user_id] == "ORG_USER"
    assert roles[own.read_only.user_id] == "READ_ONLY"
    assert caller.foreign.admin.user_id not in roles
    assert world.removed.user_id not in roles
    for item in body["items"]:
        assert set(item) == MEMBER_FIELDS


@pytest.mark.parametrize("role", ROLES)
def test_list_organizations(client: TestClient, world: World, role: str) -> None:
    caller = caller_for(world, role)
    response = client.get("/organizations", headers=caller.headers)

    if caller.role == "ANONYMOUS":
        check_refusal(response, 401)
        return
    # Listing one's own organizations is not a tenant action: a removed member
    # still sees the organizations they belong to, and no longer the one they left.
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert caller.actor is not None
    orgs = {item["id"]: item["role"] for item in body["items"]}
    if caller.role == "REMOVED":
        assert caller.own.admin.org_id not in orgs
        # Only the organization they registered with.
        assert list(orgs.values()) == ["ORG_ADMIN"]
    else:
        assert orgs[caller.own.admin.org_id] == caller.role
    assert caller.foreign.admin.org_id not in orgs
    for item in body["items"]:
        assert set(item) == ORGANIZATION_FIELDS


@pytest.mark.parametrize("role", ROLES)
def test_create_organization(
    client: TestClient, database: TestDatabase, world: World, role: str
) -> None:
    caller = caller_for(world, role)
    status = _collection_status(caller, {"ORG_ADMIN"}, 201)
    name = f"Org {uuid.uuid4().hex[:10]}"

    response = client.post("/organizations", json={"name": name}, headers=caller.headers)

    written = owner_sql(database, "select id::text from iam.organizations where name = %s", (name,))
    if status != 201:
        check_refusal(response, status)
        assert written == []
        return
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ORGANIZATION_FIELDS
    assert (body["name"], body["role"]) == (name, "ORG_ADMIN")
    assert written == [(body["id"],)]
    assert caller.actor is not None
    assert membership_role_by_org(database, body["id"], caller.actor.user_id) == "ORG_ADMIN"


def membership_role_by_org(database: TestDatabase, org_id: str, user_id: str) -> str | None:
    rows = owner_sql(
        database,
        "select role::text from iam.organization_memberships"
        " where organization_id = %s and user_id = %s",
        (org_id, user_id),
    )
    return str(rows[0][0]) if rows else None


@pytest.mark.parametrize("role", ROLES)
def test_me(client: TestClient, world: World, role: str) -> None:
    caller = caller_for(world, role)
    status = _collection_status(caller, READERS, 200)

    response = client.get("/auth/me", headers=caller.headers)

    if status != 200:
        check_refusal(response, status)
        return
    assert response.status_code == 200, response.text
    assert caller.actor is not None
    org_name = client.get("/organizations?limit=100", headers=caller.headers).json()["items"]
    names = {item["id"]: item["name"] for item in org_name}
    assert response.json() == {
        "user": {"id": caller.actor.user_id, "email": caller.actor.email},
        "organization": {"id": caller.own.admin.org_id, "name": names[caller.own.admin.org_id]},
        "role": caller.role,
    }


# ------------------------------------------------------------------ switching organization


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_switch_organization(client: TestClient, world: World, role: str, resource: str) -> None:
    caller = caller_for(world, role)
    target: str = {
        "own": caller.own.admin.org_id,
        "foreign": caller.foreign.admin.org_id,
        "missing": str(uuid.uuid4()),
    }[resource]
    if caller.role == "ANONYMOUS":
        status = 401
    elif caller.role == "REMOVED" or resource != "own":
        # Not a member (any more), whether or not the organization exists.
        status = 404
    else:
        status = 200

    response = client.post(
        "/auth/switch-organization", json={"organization_id": target}, headers=caller.headers
    )

    if status != 200:
        check_refusal(response, status)
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == SIGN_IN_FIELDS
    assert body["organization"]["id"] == target
    assert body["role"] == caller.role
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["organization"]["id"] == target


# ------------------------------------------------------------------ escalation


@pytest.mark.parametrize("role", ["user", "read_only"])
def test_member_cannot_promote_themselves(
    client: TestClient, database: TestDatabase, world: World, role: str
) -> None:
    caller = caller_for(world, role)
    assert caller.actor is not None
    response = client.patch(
        f"/members/{caller.actor.user_id}", json={"role": "ORG_ADMIN"}, headers=caller.headers
    )
    check_refusal(response, 403)
    assert membership_role(database, world.a, caller.actor.user_id) == caller.role


# ------------------------------------------------------------------ the public endpoints
# Login is per user, not per token: each caller logs in as themselves into their
# own organization, the other tenant's, or one that does not exist. Anonymous is
# an email nobody registered.


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_login(client: TestClient, world: World, role: str, resource: str) -> None:
    caller = caller_for(world, role)
    email = caller.actor.email if caller.actor else f"nobody-{uuid.uuid4().hex[:12]}@example.com"
    target = {
        "own": caller.own.admin.org_id,
        "foreign": caller.foreign.admin.org_id,
        "missing": str(uuid.uuid4()),
    }[resource]
    member = caller.role in READERS and resource == "own"

    response = client.post(
        "/auth/login", json={"email": email, "password": PASSWORD, "organization_id": target}
    )

    if not member:
        check_refusal(response, 401)
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == SIGN_IN_FIELDS
    assert (body["organization"]["id"], body["role"]) == (target, caller.role)


@pytest.mark.parametrize("role", ROLES)
def test_register_ignores_who_is_calling(client: TestClient, world: World, role: str) -> None:
    caller = caller_for(world, role)
    email = unique_email("fresh")
    response = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "organization_name": "Fresh"},
        headers=caller.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["email"] == email
    assert body["role"] == "ORG_ADMIN"
    assert body["organization"]["id"] not in {world.a.admin.org_id, world.b.admin.org_id}
    # The email is now taken, whoever asks.
    again = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "organization_name": "Again"},
        headers=caller.headers,
    )
    check_refusal(again, 409)
