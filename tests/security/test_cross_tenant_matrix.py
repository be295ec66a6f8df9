"""Cross-tenant matrix generated from /openapi.json.

Every operation the API documents is tried by six actors against three
targets. The expected status of each case comes from the README's role table
and endpoint list (sections 5 and 8) and is written out below, one row per
(operation, target), one column per actor.
An operation the table does not classify fails the test, so a new endpoint
cannot ship without its row.

Actors: the ORG_ADMIN, ORG_USER and READ_ONLY members of org A; the admin of
org B; a member removed from A who still holds a token for A; anonymous.
Targets: A's resource ("own"), B's resource ("other"), and one that does not
exist. Targets that a case may change are made fresh for it.

Besides the status, three things are checked for every case:
- a refused request (4xx) writes nothing (the iam tables' digest is unchanged);
- no 5xx ever;
- no response body carries an id, a name or an email that belongs to a tenant
  the actor is not a member of (collected as the owner, before and after).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient

from service.http.pagination import CursorCodec
from tests.support.api import PASSWORD, TEST_SECRET, Actor, add_member, register, unique_email
from tests.support.database import TestDatabase

ACTORS = ("admin_a", "user_a", "read_only_a", "admin_b", "removed", "anonymous")
TARGETS = ("own", "other", "nonexistent")
NO_TARGET = ("-",)
MIN_CASES = 250

Row = tuple[int, int, int, int, int, int]  # one expected status per actor, in ACTORS order


def every(status: int) -> Row:
    return (status,) * 6  # type: ignore[return-value]


def same_for_all_targets(row: Row) -> dict[str, Row]:
    return dict.fromkeys(TARGETS, row)


# (method, path template) -> target -> expected status per actor:
#            admin_a user_a read_only_a admin_b removed anonymous
EXPECTED: dict[tuple[str, str], dict[str, Row]] = {
    ("GET", "/healthz"): {"-": every(200)},
    ("GET", "/readyz"): {"-": every(200)},
    # A token whose user left the organization: 403 on every tenant endpoint.
    ("GET", "/auth/me"): {"-": (200, 200, 200, 200, 403, 401)},
    # The token is ignored; the email decides. Targets: an email of A, of B, a new one.
    ("POST", "/auth/register"): {
        "own": every(409),
        "other": every(409),
        "nonexistent": every(201),
    },
    # Each actor logs in with its own password into the target organization.
    ("POST", "/auth/login"): {
        "own": (200, 200, 200, 401, 401, 401),
        "other": (401, 401, 401, 200, 401, 401),
        "nonexistent": every(401),
    },
    # Switching needs a membership of the target, not of the token's organization.
    ("POST", "/auth/switch-organization"): {
        "own": (200, 200, 200, 404, 404, 401),
        "other": (404, 404, 404, 200, 404, 401),
        "nonexistent": (404, 404, 404, 404, 404, 401),
    },
    # The caller's own organizations; the target is the row the cursor points at.
    ("GET", "/organizations"): same_for_all_targets((200, 200, 200, 200, 200, 401)),
    # Organization names are not unique: A's or B's name gives no signal about the other.
    ("POST", "/organizations"): same_for_all_targets((201, 403, 403, 201, 403, 401)),
    ("GET", "/members"): same_for_all_targets((200, 200, 200, 200, 403, 401)),
    # Target: the email of a member of A, of B, or of nobody. Users are global:
    # B's admin may invite a member of A into B. A registered and an unknown
    # email answer alike.
    ("POST", "/invitations"): {
        "own": (409, 403, 403, 201, 403, 401),
        "other": (201, 403, 403, 409, 403, 401),
        "nonexistent": (201, 403, 403, 201, 403, 401),
    },
    ("GET", "/invitations"): same_for_all_targets((200, 403, 403, 200, 403, 401)),
    # Members who may not manage invitations are refused before any lookup.
    ("GET", "/invitations/{invitation_id}"): {
        "own": (200, 403, 403, 404, 403, 401),
        "other": (404, 403, 403, 200, 403, 401),
        "nonexistent": (404, 403, 403, 404, 403, 401),
    },
    ("DELETE", "/invitations/{invitation_id}"): {
        "own": (204, 403, 403, 404, 403, 401),
        "other": (404, 403, 403, 204, 403, 401),
        "nonexistent": (404, 403, 403, 404, 403, 401),
    },
    # Target: a token of A's or B's invitation for somebody else's email, or
    # no invitation: one 404 for all. Any signed-in user may try (the
    # removed member too: the invitee needs no membership).
    ("POST", "/invitations/accept"): same_for_all_targets((404, 404, 404, 404, 404, 401)),
    ("GET", "/organizations/{organization_id}"): {
        "own": (200, 200, 200, 404, 403, 401),
        "other": (404, 404, 404, 200, 403, 401),
        "nonexistent": (404, 404, 404, 404, 403, 401),
    },
    ("PATCH", "/organizations/{organization_id}"): {
        "own": (200, 403, 403, 404, 403, 401),
        "other": (404, 404, 404, 200, 403, 401),
        "nonexistent": (404, 404, 404, 404, 403, 401),
    },
    # Run last, targets in this order: B's admin deletes B, then A's admin
    # deletes A. From then on B's admin holds a token of a deleted
    # organization: 403, like any former member.
    ("DELETE", "/organizations/{organization_id}"): {
        "nonexistent": (404, 404, 404, 404, 403, 401),
        "other": (404, 404, 404, 204, 403, 401),
        "own": (204, 403, 403, 403, 403, 401),
    },
    ("PATCH", "/members/{user_id}"): {
        "own": (200, 403, 403, 404, 403, 401),
        "other": (404, 404, 404, 200, 403, 401),
        "nonexistent": (404, 404, 404, 404, 403, 401),
    },
    ("DELETE", "/members/{user_id}"): {
        "own": (204, 403, 403, 404, 403, 401),
        "other": (404, 404, 404, 204, 403, 401),
        "nonexistent": (404, 404, 404, 404, 403, 401),
    },
    ("GET", "/projects"): same_for_all_targets((200, 200, 200, 200, 403, 401)),
    # Target: a name used by a project of A, of B, or by none. Names are unique per organization.
    ("POST", "/projects"): {
        "own": (409, 409, 403, 201, 403, 401),
        "other": (201, 201, 403, 409, 403, 401),
        "nonexistent": (201, 201, 403, 201, 403, 401),
    },
    ("GET", "/projects/{project_id}"): {
        "own": (200, 200, 200, 404, 403, 401),
        "other": (404, 404, 404, 200, 403, 401),
        "nonexistent": (404, 404, 404, 404, 403, 401),
    },
    ("PATCH", "/projects/{project_id}"): {
        "own": (200, 200, 403, 404, 403, 401),
        "other": (404, 404, 404, 200, 403, 401),
        "nonexistent": (404, 404, 404, 404, 403, 401),
    },
    ("DELETE", "/projects/{project_id}"): {
        "own": (204, 403, 403, 404, 403, 401),
        "other": (404, 404, 404, 204, 403, 401),
        "nonexistent": (404, 404, 404, 404, 403, 401),
    },
    # The refresh token decides, not the bearer. Targets: a fresh session of
    # the actor's own, a spent token of the actor's, an unknown token.
    ("POST", "/auth/refresh"): {
        "own": (200, 200, 200, 200, 200, 401),
        "other": every(401),
        "nonexistent": every(401),
    },
    # Sessions are the user's, not the organization's: a removed member still
    # lists and ends their own sessions and changes their password.
    ("POST", "/auth/logout"): {"-": (204, 204, 204, 204, 204, 401)},
    ("GET", "/auth/sessions"): {"-": (200, 200, 200, 200, 200, 401)},
    # Target: a fresh session of A's admin, of B's admin, or none.
    ("DELETE", "/auth/sessions/{session_id}"): {
        "own": (204, 404, 404, 404, 404, 401),
        "other": (404, 404, 404, 204, 404, 401),
        "nonexistent": (404, 404, 404, 404, 404, 401),
    },
    # The same password again, so that every actor keeps signing in.
    ("POST", "/auth/password"): {"-": (204, 204, 204, 204, 204, 401)},
    # The active organization's audit log, ORG_ADMIN only; the target is the
    # project the ?target_id= filter names (another tenant's: an empty page).
    ("GET", "/audit-events"): same_for_all_targets((200, 403, 403, 200, 403, 401)),
}
# Operations that may end the actor's own session: it is put back after them.
SESSION_ENDING = {("POST", "/auth/logout"), ("POST", "/auth/password")}
# The one refusal that must write: a spent refresh token ends its session.
REFUSALS_THAT_WRITE = {(("POST", "/auth/refresh"), "other")}


@dataclass
class Request:
    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, str] | None = None


@dataclass
class World:
    client: TestClient
    actors: dict[str, Actor | None]
    org_a: str
    org_b: str
    org_a_name: str
    org_b_name: str
    # Targets a case may use up; remade after a case that changed them.
    cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    def headers(self, actor: str) -> dict[str, str]:
        found = self.actors[actor]
        return {} if found is None else found.headers

    def org(self, side: str) -> str:
        return self.org_a if side == "own" else self.org_b

    def admin(self, side: str) -> Actor:
        found = self.actors["admin_a" if side == "own" else "admin_b"]
        assert found is not None
        return found

    def fresh_project(self, side: str) -> dict[str, str]:
        name = f"mx-project-{uuid.uuid4().hex[:12]}"
        response = self.client.post(
            "/projects", json={"name": name}, headers=self.admin(side).headers
        )
        assert response.status_code == 201, response.text
        return {"id": response.json()["id"], "name": name}

    def fresh_invitation(self, side: str) -> dict[str, str]:
        response = self.client.post(
            "/invitations",
            json={"email": unique_email("mx-invitee"), "role": "READ_ONLY"},
            headers=self.admin(side).headers,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return {"id": body["id"], "token": body["token"]}

    def sign_in(self, email: str) -> dict[str, Any]:
        response = self.client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def fresh_member(self, side: str) -> Actor:
        return add_member(self.client, self.admin(side), "ORG_USER", "mx-member")

    def target(self, op: str, side: str, make: Callable[[str], Any]) -> Any:
        key = (op, side)
        if key not in self.cache:
            self.cache[key] = make(side)
        return self.cache[key]

    def used_up(self, op: str, side: str) -> None:
        self.cache.pop((op, side), None)


def _cursor(list_name: str, key: str) -> str:
    # A position far in the future, signed as the list signs its own: the page
    # starts at the newest row and holds everything.
    micros = int((time.time() + 86_400) * 1_000_000)
    return CursorCodec(TEST_SECRET).encode(list_name, micros, key)


def _key_for(world: World, target: str, kind: str) -> str:
    if target == "nonexistent":
        return str(uuid.uuid4())
    side = target
    if kind == "org":
        return world.org(side)
    if kind == "member":
        return world.admin(side).user_id
    if kind == "invitation":
        return world.target("list-invitation", side, world.fresh_invitation)["id"]
    return world.target("list-project", side, world.fresh_project)["id"]


def build(world: World, op: tuple[str, str], actor: str, target: str) -> Request:
    """The request of one case; side effects only in making its target."""
    method, path = op
    name = f"{method} {path}"
    if op == ("POST", "/auth/password"):
        return Request(method, path, json={"current_password": PASSWORD, "new_password": PASSWORD})
    if target in NO_TARGET:
        return Request(method, path)
    side = target if target != "nonexistent" else None

    if op == ("POST", "/auth/refresh"):
        own = world.actors[actor]
        token = f"mx-unknown-{uuid.uuid4().hex}"
        if own is not None and side is not None:
            token = world.sign_in(own.email)["refresh_token"]
            if target == "other":  # spent: rotated once already
                rotated = world.client.post("/auth/refresh", json={"refresh_token": token})
                assert rotated.status_code == 200, rotated.text
        return Request(method, path, json={"refresh_token": token})
    if path == "/auth/sessions/{session_id}":
        session_id = (
            sid_of(world.sign_in(world.admin(side).email)["access_token"])
            if side
            else str(uuid.uuid4())
        )
        return Request(method, f"/auth/sessions/{session_id}")

    if op == ("POST", "/auth/register"):
        email = unique_email("mx-new") if side is None else world.admin(side).email.upper()
        body = {
            "email": email,
            "password": PASSWORD,
            "organization_name": f"mx-org-{uuid.uuid4().hex[:12]}",
        }
        return Request(method, path, json=body)
    if op == ("POST", "/auth/login"):
        own = world.actors[actor]
        email = own.email if own is not None else unique_email("mx-nobody")
        org_id = world.org(side) if side else str(uuid.uuid4())
        return Request(
            method, path, json={"email": email, "password": PASSWORD, "organization_id": org_id}
        )
    if op == ("POST", "/auth/switch-organization"):
        return Request(
            method, path, json={"organization_id": world.org(side) if side else str(uuid.uuid4())}
        )
    if op == ("POST", "/organizations"):
        names = {"own": world.org_a_name, "other": world.org_b_name}
        return Request(
            method, path, json={"name": names.get(target, f"mx-org-{uuid.uuid4().hex[:12]}")}
        )
    lists = {
        "/organizations": "org",
        "/members": "member",
        "/projects": "project",
        "/invitations": "invitation",
    }
    if method == "GET" and path in lists:
        kind = lists[path]
        cursor = _cursor(path.strip("/"), _key_for(world, target, kind))
        return Request(method, path, params={"cursor": cursor})
    if op == ("GET", "/audit-events"):
        return Request(method, path, params={"target_id": _key_for(world, target, "project")})
    if op == ("POST", "/invitations"):
        email = (
            world.target(name, side, world.fresh_member).email
            if side
            else unique_email("mx-nobody")
        )
        return Request(method, path, json={"email": email, "role": "READ_ONLY"})
    if path == "/invitations/{invitation_id}":
        invitation_id = (
            world.target(name, side, world.fresh_invitation)["id"] if side else str(uuid.uuid4())
        )
        return Request(method, f"/invitations/{invitation_id}")
    if op == ("POST", "/invitations/accept"):
        token = world.target(name, side, world.fresh_invitation)["token"] if side else "A" * 43
        return Request(method, path, json={"token": token})
    if path == "/organizations/{organization_id}":
        org_id = world.org(side) if side else str(uuid.uuid4())
        body = {"name": f"mx-org-renamed-{uuid.uuid4().hex[:12]}"} if method == "PATCH" else None
        return Request(method, f"/organizations/{org_id}", json=body)
    if path == "/members/{user_id}":
        user_id = (
            world.target(name, side, world.fresh_member).user_id if side else str(uuid.uuid4())
        )
        body = {"role": "READ_ONLY"} if method == "PATCH" else None
        return Request(method, f"/members/{user_id}", json=body)
    if op == ("POST", "/projects"):
        project_name = (
            world.target(name, side, world.fresh_project)["name"].upper()
            if side
            else f"mx-project-{uuid.uuid4().hex[:12]}"
        )
        return Request(method, path, json={"name": project_name, "description": "matrix"})
    if path == "/projects/{project_id}":
        project_id = (
            world.target(name, side, world.fresh_project)["id"] if side else str(uuid.uuid4())
        )
        body = {"description": f"patched by {actor}"} if method == "PATCH" else None
        return Request(method, f"/projects/{project_id}", json=body)
    raise AssertionError(f"no request builder for {name}")


DIGEST = """
select md5(concat_ws('|',
  (select string_agg(t.id::text, ',' order by t.id) from iam.sessions as t),
  (select string_agg(t::text, ',' order by t.id) from iam.organizations as t),
  (select string_agg(t::text, ',' order by t.id) from iam.users as t),
  (select string_agg(t::text, ',' order by t.id) from iam.organization_memberships as t),
  (select string_agg(t::text, ',' order by t.id) from iam.projects as t),
  (select string_agg(t::text, ',' order by t.id) from iam.invitations as t),
  (select string_agg(t::text, ',' order by t.id) from iam.audit_events as t)))
"""


class Owner:
    """The database as its owner sees it: digests of the iam tables and each tenant's values."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.values: dict[str, set[str]] = {}  # org id -> every id, name and email it ever held
        self.orgs_of: dict[str, set[str]] = {}  # user id -> every org it ever belonged to

    def digest(self) -> str:
        row = self.conn.execute(DIGEST).fetchone()
        assert row is not None
        return str(row[0])

    def snapshot(self, org_ids: set[str], user_ids: set[str]) -> None:
        for user_id, org_id in self.conn.execute(
            "select user_id::text, organization_id::text from iam.organization_memberships"
            " where user_id = any(%s::uuid[])",
            (list(user_ids),),
        ):
            self.orgs_of.setdefault(user_id, set()).add(org_id)
        orgs = list(org_ids | {o for found in self.orgs_of.values() for o in found})
        queries = (
            "select id::text, id::text, name from iam.organizations where id = any(%s::uuid[])",
            "select organization_id::text, id::text, name from iam.projects"
            " where organization_id = any(%s::uuid[])",
            "select m.organization_id::text, u.id::text, u.email"
            " from iam.organization_memberships as m join iam.users as u on u.id = m.user_id"
            " where m.organization_id = any(%s::uuid[])",
            "select organization_id::text, id::text, email from iam.invitations"
            " where organization_id = any(%s::uuid[])",
        )
        for query in queries:
            for org_id, key, label in self.conn.execute(query, (orgs,)):
                self.values.setdefault(org_id, set()).update({key.lower(), label.lower()})


@dataclass
class Case:
    op: tuple[str, str]
    actor: str
    target: str
    request: Request
    status: int
    body: str


@pytest.fixture(scope="module")
def world(client: TestClient) -> World:
    return make_world(client)


def make_world(client: TestClient) -> World:
    tag = uuid.uuid4().hex[:12]
    org_a_name, org_b_name = f"mx-org-a-{tag}", f"mx-org-b-{tag}"
    admin_a = register(client, "mx-admin-a", org_a_name)
    admin_b = register(client, "mx-admin-b", org_b_name)
    removed = add_member(client, admin_a, "ORG_USER", "mx-removed")
    assert client.delete(f"/members/{removed.user_id}", headers=admin_a.headers).status_code == 204
    actors: dict[str, Actor | None] = {
        "admin_a": admin_a,
        "user_a": add_member(client, admin_a, "ORG_USER", "mx-user-a"),
        "read_only_a": add_member(client, admin_a, "READ_ONLY", "mx-read-only-a"),
        "admin_b": admin_b,
        "removed": removed,  # still holds its token for org A
        "anonymous": None,
    }
    world = World(client, actors, admin_a.org_id, admin_b.org_id, org_a_name, org_b_name)
    for side in ("own", "other"):  # some rows in each tenant before the matrix starts
        world.fresh_project(side)
        world.fresh_member(side)
    return world


LAST = ("DELETE", "/organizations/{organization_id}")


def operations(client: TestClient) -> list[tuple[str, str]]:
    """Every documented operation; deleting the organizations comes last."""
    spec = client.get("/openapi.json").json()
    documented = [(method.upper(), path) for path, item in spec["paths"].items() for method in item]
    return sorted(documented, key=lambda op: op == LAST)


def test_every_documented_operation_is_classified(client: TestClient) -> None:
    documented = operations(client)
    unclassified = sorted(set(documented) - EXPECTED.keys())
    assert not unclassified, f"operations without a row in the matrix: {unclassified}"
    stale = sorted(EXPECTED.keys() - set(documented))
    assert not stale, f"matrix rows for operations the API no longer documents: {stale}"


def test_cross_tenant_matrix(client: TestClient, world: World, database: TestDatabase) -> None:
    documented = operations(client)
    unclassified = [op for op in documented if op not in EXPECTED]
    assert not unclassified, f"operations without a row in the matrix: {unclassified}"

    cases: list[Case] = []
    mismatches: list[str] = []
    writes_on_refusal: list[str] = []
    user_ids = {actor.user_id for actor in world.actors.values() if actor is not None}
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        owner = Owner(conn)
        owner.snapshot({world.org_a, world.org_b}, user_ids)
        for op in documented:
            rows = EXPECTED[op]
            for target in rows:
                for index, actor in enumerate(ACTORS):
                    expected = rows[target][index]
                    request = build(world, op, actor, target)
                    checked = expected >= 400 and (op, target) not in REFUSALS_THAT_WRITE
                    before = owner.digest() if checked else None
                    response = client.request(
                        request.method,
                        request.path,
                        json=request.json,
                        params=request.params,
                        headers=world.headers(actor),
                    )
                    label = f"{op[0]} {op[1]} [{actor} -> {target}]"
                    if response.status_code != expected:
                        got = f"{response.status_code}, expected {expected}"
                        mismatches.append(f"{label}: {got}: {response.text[:160]}")
                    if before is not None and owner.digest() != before:
                        writes_on_refusal.append(label)
                    if 200 <= response.status_code < 300 and target in ("own", "other"):
                        world.used_up(f"{op[0]} {op[1]}", target)
                    if op in SESSION_ENDING:
                        restore_session(conn, world.actors[actor])
                    cases.append(
                        Case(op, actor, target, request, response.status_code, response.text)
                    )
            owner.snapshot({world.org_a, world.org_b}, user_ids)

        leaks, foreign_checks = find_leaks(cases, world, owner)

    print(
        f"\n[matrix] {len(documented)} operations x {len(ACTORS)} actors x targets:"
        f" {len(cases)} cases; mismatches {len(mismatches)};"
        f" writes on refusal {len(writes_on_refusal)};"
        f" {foreign_checks} (body, foreign value) pairs scanned; leaks {len(leaks)}"
    )
    assert foreign_checks > 20 * len(cases)
    assert len(cases) >= MIN_CASES
    assert not [case for case in cases if case.status >= 500]
    assert not mismatches, "\n".join(mismatches)
    assert not writes_on_refusal, writes_on_refusal
    assert not leaks, "\n".join(leaks)


def sid_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def restore_session(conn: psycopg.Connection[Any], actor: Actor | None) -> None:
    """Put an actor's session back (as the owner) after a case that ended it."""
    if actor is not None:
        conn.execute(
            "insert into iam.sessions (id, user_id, expires_at)"
            " values (%s, %s, now() + interval '1 day') on conflict (id) do nothing",
            (actor.session_id, actor.user_id),
        )


def find_leaks(cases: list[Case], world: World, owner: Owner) -> tuple[list[str], int]:
    """Values of A or B in the body of an actor that is not (and never was) a member there.

    Returns the leaks and the number of (body, value) pairs looked at.
    """
    tenant_values = owner.values[world.org_a] | owner.values[world.org_b]
    leaks = []
    checks = 0
    for case in cases:
        actor = world.actors[case.actor]
        member_of = owner.orgs_of.get(actor.user_id, set()) if actor is not None else set()
        allowed = set().union(*(owner.values.get(org_id, set()) for org_id in member_of))
        foreign = tenant_values - allowed
        checks += len(foreign)
        body = case.body.lower()
        found = sorted(value for value in foreign if value in body)
        if found:
            leaks.append(f"{case.op} [{case.actor} -> {case.target}] {case.status}: {found}")
    return leaks, checks


def test_leak_scan_finds_a_planted_foreign_value(
    client: TestClient, database: TestDatabase
) -> None:
    """The scan itself can fail: B's values in an A actor's body (and A's in B's) are found."""
    # A world of its own: the matrix ends by deleting its organizations.
    world = make_world(client)
    user_ids = {actor.user_id for actor in world.actors.values() if actor is not None}
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        owner = Owner(conn)
        owner.snapshot({world.org_a, world.org_b}, user_ids)
    op = ("GET", "/projects")
    request = Request("GET", "/projects")
    admin_b, admin_a = world.admin("other"), world.admin("own")
    planted = [
        Case(op, "user_a", "-", request, 200, f'{{"items":[{{"id":"{world.org_b}"}}]}}'),
        Case(op, "read_only_a", "-", request, 200, f'{{"email":"{admin_b.email.upper()}"}}'),
        Case(op, "admin_b", "-", request, 200, f'{{"email":"{admin_a.email}"}}'),
        Case(op, "removed", "-", request, 403, f'{{"detail":"{admin_a.user_id}"}}'),
        Case(op, "anonymous", "-", request, 401, f'{{"detail":"{world.org_b_name}"}}'),
    ]
    clean = [
        Case(
            op,
            "admin_a",
            "-",
            request,
            200,
            f'{{"id":"{world.org_a}","name":"{world.org_a_name}"}}',
        ),
        Case(op, "admin_b", "-", request, 200, f'{{"email":"{admin_b.email}"}}'),
    ]
    leaks, _ = find_leaks(planted + clean, world, owner)
    assert len(leaks) == len(planted), leaks
