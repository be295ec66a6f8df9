"""Stateful property-based test of tenancy.

Hypothesis drives random sequences of register, invite, accept, register
with an invitation, show and revoke one, promote, demote, remove, create /
update / delete project, and rename / delete the organization, by random actors
(members, former members and strangers alike) holding tokens for one of
three tenants. A model predicts every status from the README's role table
and endpoint list; after every step the database (read as its owner) must
equal the model (memberships, projects, pending invitations), every
organization keeps an ORG_ADMIN, and each tenant's listings hold exactly
its own rows.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from service.http.text import INVISIBLE
from tests.support.api import PASSWORD, unique_email
from tests.support.attacks import bearer, token_service
from tests.support.database import TestDatabase

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

ROLES = ("ORG_ADMIN", "ORG_USER", "READ_ONLY")
# Few names, differing in case too, so that creates and renames collide.
PROJECT_NAMES = ("alpha", "Alpha", "beta", "gamma", "BETA")


def refused_description(text: str) -> bool:
    """docs/api.md: no control character but tab and line breaks, no invisible formatting."""
    return any(
        (unicodedata.category(char) == "Cc" and char not in "\t\n\r") or char in INVISIBLE
        for char in text
    )


TENANTS = 3
EXAMPLES = 15
STEPS_PER_EXAMPLE = 25


@dataclass
class Stats:
    steps: int = 0
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    id: str
    email: str
    session_id: str


@dataclass(frozen=True)
class Invitation:
    id: str
    org: str
    email: str
    role: str
    token: str


def make_machine(
    client: TestClient, database: TestDatabase, stats: Stats
) -> type[RuleBasedStateMachine]:
    tokens = token_service()
    owner = psycopg.connect(database.conninfo, autocommit=True)

    class TenancyMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.users: list[User] = []
            self.tenants: list[str] = []  # the three organizations the rules act in
            self.members: dict[str, dict[str, str]] = {}  # org -> user -> role
            self.projects: dict[str, dict[str, str]] = {}  # org -> project id -> name
            self.invitations: dict[str, Invitation] = {}  # pending, by id
            self.last_actor: User | None = None
            self.last_org: str | None = None

        # ------------------------------------------------------------ helpers

        def call(
            self, method: str, path: str, actor: User | None, org: str | None, **kw: Any
        ) -> httpx.Response:
            headers = {}
            if actor is not None and org is not None:
                token = tokens.issue(
                    uuid.UUID(actor.id), uuid.UUID(org), "ORG_ADMIN", uuid.UUID(actor.session_id)
                )
                headers = bearer(token)
            response = client.request(method, path, headers=headers, **kw)
            stats.requests += 1
            stats.statuses[response.status_code] = stats.statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (method, path, response.status_code, response.text)
            return response

        def expect(self, response: httpx.Response, expected: int, what: str) -> None:
            stats.steps += 1
            assert response.status_code == expected, (
                what,
                response.status_code,
                expected,
                response.text,
            )

        def register_user(self) -> tuple[User, str]:
            email = unique_email("sm")
            response = self.call(
                "POST",
                "/auth/register",
                None,
                None,
                json={
                    "email": email,
                    "password": PASSWORD,
                    "organization_name": f"sm-{uuid.uuid4().hex[:8]}",
                },
            )
            assert response.status_code == 201, response.text
            body = response.json()
            sid = jwt.decode(body["access_token"], options={"verify_signature": False})["sid"]
            user = User(body["user"]["id"], email, sid)
            org = body["organization"]["id"]
            self.users.append(user)
            self.members[org] = {user.id: "ORG_ADMIN"}
            self.projects[org] = {}
            return user, org

        def pending(self, org: str, email: str) -> bool:
            return any(i.org == org and i.email == email for i in self.invitations.values())

        def join(self, invitation: Invitation, user: User) -> None:
            del self.invitations[invitation.id]
            self.members[invitation.org][user.id] = invitation.role

        def role(self, org: str, user: User) -> str | None:
            return self.members[org].get(user.id)

        def admins(self, org: str) -> int:
            return sum(1 for role in self.members[org].values() if role == "ORG_ADMIN")

        def pick(self, data: st.DataObject) -> tuple[User, str]:
            actor = data.draw(st.sampled_from(self.users), label="actor")
            org = data.draw(st.sampled_from(self.tenants), label="org")
            self.last_actor, self.last_org = actor, org
            return actor, org

        # -------------------------------------------------------------- rules

        @initialize()
        def three_tenants(self) -> None:
            for _ in range(TENANTS):
                _, org = self.register_user()
                self.tenants.append(org)

        @rule()
        def register(self) -> None:
            stats.steps += 1
            self.register_user()

        @rule(data=st.data())
        def register_taken_email(self, data: st.DataObject) -> None:
            user = data.draw(st.sampled_from(self.users))
            response = self.call(
                "POST",
                "/auth/register",
                None,
                None,
                json={
                    "email": f" {user.email.upper()} ",
                    "password": PASSWORD,
                    "organization_name": "dup",
                },
            )
            self.expect(response, 409, "register with a taken email")

        @rule(data=st.data(), role=st.sampled_from(ROLES))
        def invite(self, data: st.DataObject, role: str) -> None:
            actor, org = self.pick(data)
            target = data.draw(st.sampled_from(self.users), label="target")
            email = data.draw(
                st.sampled_from([target.email, target.email.upper(), unique_email("nobody")])
            )
            response = self.call(
                "POST", "/invitations", actor, org, json={"email": email, "role": role}
            )
            member = email.lower() == target.email and self.role(org, target) is not None
            if self.role(org, actor) != "ORG_ADMIN":
                expected = 403
            elif member or self.pending(org, email.lower()):
                expected = 409
            else:
                # Registered or not, the same answer.
                expected = 201
                body = response.json()
                invitation = Invitation(body["id"], org, email.lower(), role, body["token"])
                self.invitations[invitation.id] = invitation
            self.expect(response, expected, f"invite as {role}")

        @rule(data=st.data())
        def accept(self, data: st.DataObject) -> None:
            if not self.invitations:
                return
            invitation = data.draw(st.sampled_from(sorted(self.invitations.values(), key=str)))
            by_email = {u.email: u for u in self.users}
            invitee = by_email.get(invitation.email)
            caller = data.draw(
                st.sampled_from([*([invitee] if invitee else []), *self.users]), label="caller"
            )
            # Any token of the caller's will do: the invitee needs no membership.
            org = data.draw(st.sampled_from(self.tenants), label="token org")
            self.last_actor, self.last_org = caller, invitation.org
            response = self.call(
                "POST", "/invitations/accept", caller, org, json={"token": invitation.token}
            )
            if caller.email == invitation.email:
                expected = 200
                assert response.json()["organization"]["id"] == invitation.org
                self.join(invitation, caller)
            else:
                expected = 404
            self.expect(response, expected, "accept")

        @rule(data=st.data())
        def register_invited(self, data: st.DataObject) -> None:
            registered = {u.email for u in self.users}
            open_ = [i for i in self.invitations.values() if i.email not in registered]
            if not open_:
                return
            invitation = data.draw(st.sampled_from(sorted(open_, key=str)))
            response = self.call(
                "POST",
                "/auth/register",
                None,
                None,
                json={
                    "email": invitation.email,
                    "password": PASSWORD,
                    "invitation_token": invitation.token,
                },
            )
            self.expect(response, 201, "register with an invitation")
            body = response.json()
            sid = jwt.decode(body["access_token"], options={"verify_signature": False})["sid"]
            user = User(body["user"]["id"], invitation.email, sid)
            self.users.append(user)
            self.join(invitation, user)
            self.last_actor, self.last_org = user, invitation.org

        def call_invitation(
            self, data: st.DataObject, method: str, allowed: int
        ) -> tuple[httpx.Response, Invitation | None]:
            """method on a pending invitation, or an unknown id; returns the one it acted on."""
            actor, org = self.pick(data)
            ids = sorted(self.invitations)
            invitation_id = data.draw(st.sampled_from([*ids, str(uuid.uuid4())]), label="id")
            response = self.call(method, f"/invitations/{invitation_id}", actor, org)
            found = self.invitations.get(invitation_id)
            if self.role(org, actor) != "ORG_ADMIN":
                expected = 403
            elif found is None or found.org != org:
                expected = 404
            else:
                expected = allowed
            self.expect(response, expected, f"{method} invitation")
            return response, found if expected == allowed else None

        @rule(data=st.data())
        def revoke(self, data: st.DataObject) -> None:
            _, revoked = self.call_invitation(data, "DELETE", 204)
            if revoked is not None:
                del self.invitations[revoked.id]

        @rule(data=st.data())
        def show_invitation(self, data: st.DataObject) -> None:
            response, shown = self.call_invitation(data, "GET", 200)
            if shown is not None:
                body = response.json()
                assert (body["email"], body["role"]) == (shown.email, shown.role)
                assert "token" not in body

        @rule(data=st.data())
        def rename_organization(self, data: st.DataObject) -> None:
            actor, org = self.pick(data)
            target = data.draw(st.sampled_from([org, *self.tenants]), label="target")
            response = self.call(
                "PATCH", f"/organizations/{target}", actor, org, json={"name": "sm renamed"}
            )
            role = self.role(org, actor)
            if role is None:
                expected = 403
            elif target != org:
                expected = 404
            elif role != "ORG_ADMIN":
                expected = 403
            else:
                expected = 200
            self.expect(response, expected, "rename organization")

        @rule(data=st.data())
        def delete_organization(self, data: st.DataObject) -> None:
            actor, org = self.pick(data)
            target = data.draw(st.sampled_from([org, *self.tenants]), label="target")
            response = self.call("DELETE", f"/organizations/{target}", actor, org)
            role = self.role(org, actor)
            if role is None:
                expected = 403
            elif target != org:
                expected = 404
            elif role != "ORG_ADMIN":
                expected = 403
            else:
                expected = 204
                del self.members[org], self.projects[org]
                self.invitations = {k: i for k, i in self.invitations.items() if i.org != org}
                # Another tenant takes its place, so that the rules keep three.
                _, replacement = self.register_user()
                self.tenants[self.tenants.index(org)] = replacement
                self.last_org = replacement
            self.expect(response, expected, "delete organization")

        def change_role(self, data: st.DataObject, role: str) -> None:
            actor, org = self.pick(data)
            candidates = [u for u in self.users if u.id in self.members[org]] or self.users
            target = data.draw(st.sampled_from(candidates + self.users), label="target")
            response = self.call("PATCH", f"/members/{target.id}", actor, org, json={"role": role})
            current = self.role(org, target)
            if self.role(org, actor) is None:
                expected = 403
            elif current is None:
                expected = 404
            elif self.role(org, actor) != "ORG_ADMIN":
                expected = 403
            elif current == "ORG_ADMIN" and role != "ORG_ADMIN" and self.admins(org) == 1:
                expected = 409
            else:
                expected = 200
                self.members[org][target.id] = role
            self.expect(response, expected, f"change role to {role}")

        @rule(data=st.data())
        def promote(self, data: st.DataObject) -> None:
            self.change_role(data, "ORG_ADMIN")

        @rule(data=st.data(), role=st.sampled_from(("ORG_USER", "READ_ONLY")))
        def demote(self, data: st.DataObject, role: str) -> None:
            self.change_role(data, role)

        @rule(data=st.data())
        def remove(self, data: st.DataObject) -> None:
            actor, org = self.pick(data)
            candidates = [u for u in self.users if u.id in self.members[org]]
            target = data.draw(st.sampled_from([actor, *candidates, *self.users]), label="target")
            response = self.call("DELETE", f"/members/{target.id}", actor, org)
            actor_role, current = self.role(org, actor), self.role(org, target)
            if actor_role is None:
                expected = 403
            elif current is None:
                expected = 404
            elif target != actor and actor_role != "ORG_ADMIN":
                expected = 403
            elif current == "ORG_ADMIN" and self.admins(org) == 1:
                expected = 409
            else:
                expected = 204
                del self.members[org][target.id]
            self.expect(response, expected, "remove member" if target != actor else "leave")

        def clash(self, org: str, name: str, except_id: str | None = None) -> bool:
            return any(
                other.lower() == name.lower()
                for project_id, other in self.projects[org].items()
                if project_id != except_id
            )

        @rule(data=st.data(), name=st.sampled_from(PROJECT_NAMES))
        def create_project(self, data: st.DataObject, name: str) -> None:
            actor, org = self.pick(data)
            response = self.call("POST", "/projects", actor, org, json={"name": name})
            role = self.role(org, actor)
            if role in (None, "READ_ONLY"):
                expected = 403
            elif self.clash(org, name):
                expected = 409
            else:
                expected = 201
                body = response.json()
                assert body["organization_id"] == org
                assert body["created_by_user_id"] == actor.id
                self.projects[org][body["id"]] = name
            self.expect(response, expected, f"create project {name}")

        def pick_project(self, data: st.DataObject) -> str:
            every = [p for projects in self.projects.values() for p in projects]
            return data.draw(st.sampled_from([*every, str(uuid.uuid4())]), label="project")

        def owner_of(self, project_id: str) -> str | None:
            return next(
                (org for org, projects in self.projects.items() if project_id in projects), None
            )

        @rule(
            data=st.data(),
            name=st.one_of(st.none(), st.sampled_from(PROJECT_NAMES)),
            description=st.one_of(st.none(), st.text(max_size=20)),
        )
        def update_project(
            self, data: st.DataObject, name: str | None, description: str | None
        ) -> None:
            actor, org = self.pick(data)
            project_id = self.pick_project(data)
            body: dict[str, Any] = {"description": description}
            if name is not None:
                body["name"] = name
            response = self.call("PATCH", f"/projects/{project_id}", actor, org, json=body)
            role = self.role(org, actor)
            if role is None:
                expected = 403
            elif self.owner_of(project_id) != org:
                expected = 404
            elif role == "READ_ONLY":
                expected = 403
            elif name is not None and self.clash(org, name, except_id=project_id):
                expected = 409
            else:
                expected = 200
                if name is not None:
                    self.projects[org][project_id] = name
            if description is not None and refused_description(description):
                expected = 422  # bad text is refused before anything else
            self.expect(response, expected, "update project")

        @rule(data=st.data())
        def delete_project(self, data: st.DataObject) -> None:
            actor, org = self.pick(data)
            project_id = self.pick_project(data)
            response = self.call("DELETE", f"/projects/{project_id}", actor, org)
            role = self.role(org, actor)
            if role is None:
                expected = 403
            elif self.owner_of(project_id) != org:
                expected = 404
            elif role != "ORG_ADMIN":
                expected = 403
            else:
                expected = 204
                del self.projects[org][project_id]
            self.expect(response, expected, "delete project")

        # --------------------------------------------------------- invariants

        @invariant()
        def database_equals_model(self) -> None:
            if not self.tenants:
                return
            orgs = list(self.members)
            memberships: dict[str, dict[str, str]] = {org: {} for org in orgs}
            for org, user, role in owner.execute(
                "select organization_id::text, user_id::text, role::text"
                " from iam.organization_memberships where organization_id = any(%s::uuid[])",
                (orgs,),
            ):
                memberships[org][user] = role
            assert memberships == self.members
            projects: dict[str, dict[str, str]] = {org: {} for org in orgs}
            for org, project_id, name in owner.execute(
                "select organization_id::text, id::text, name from iam.projects"
                " where organization_id = any(%s::uuid[])",
                (orgs,),
            ):
                projects[org][project_id] = name
            assert projects == self.projects
            pending = {
                (org, email)
                for org, email in owner.execute(
                    "select organization_id::text, email from iam.invitations"
                    " where organization_id = any(%s::uuid[]) and accepted_at is null",
                    (orgs,),
                )
            }
            assert pending == {(i.org, i.email) for i in self.invitations.values()}

        @invariant()
        def every_organization_keeps_an_admin(self) -> None:
            orphans = owner.execute(
                "select o.id from iam.organizations as o where o.id = any(%s::uuid[])"
                " and not exists (select 1 from iam.organization_memberships as m"
                " where m.organization_id = o.id and m.role = 'ORG_ADMIN')",
                (list(self.members),),
            ).fetchall()
            assert orphans == []

        @invariant()
        def listings_hold_only_the_tenants_rows(self) -> None:
            # The tenant the last step acted in, through the API; the SQL invariant
            # above already covers the others, which that step could not change.
            for org in self.tenants if self.last_org is None else [self.last_org]:
                member_id = next(iter(self.members[org]))
                member = next(u for u in self.users if u.id == member_id)
                people = self.call("GET", "/members", member, org, params={"limit": 100}).json()
                assert {(m["user_id"], m["role"]) for m in people["items"]} == set(
                    self.members[org].items()
                )
                assert people["next_cursor"] is None
                projects = self.call("GET", "/projects", member, org, params={"limit": 100}).json()
                assert {(p["id"], p["name"]) for p in projects["items"]} == set(
                    self.projects[org].items()
                )
                assert {p["organization_id"] for p in projects["items"]} <= {org}
            if self.last_actor is not None:
                actor = self.last_actor
                # Any token of the actor's will do; its organization list is all its memberships.
                org = self.tenants[0]
                response = self.call("GET", "/organizations", actor, org, params={"limit": 100})
                expected = {o for o, members in self.members.items() if actor.id in members}
                listed = {o["id"] for o in response.json()["items"]}
                # Organizations outside the model (made by other tests) cannot hold this user.
                assert listed == expected

    TenancyMachine.owner_conn = owner  # type: ignore[attr-defined]
    return TenancyMachine


def test_random_sequences_keep_tenants_isolated(client: TestClient, database: TestDatabase) -> None:
    stats = Stats()
    machine = make_machine(client, database, stats)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS_PER_EXAMPLE,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        machine.owner_conn.close()  # type: ignore[attr-defined]
    print(
        f"\n[stateful] {EXAMPLES} examples, {stats.steps} checked steps, {stats.requests} requests,"
        f" statuses {dict(sorted(stats.statuses.items()))}"
    )
    assert stats.steps >= EXAMPLES * 5
    assert not [status for status in stats.statuses if status >= 500]
