"""GET /audit-events: what the database recorded for each change made through the API."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_pagination import walk
from tests.support.api import (
    PASSWORD,
    Actor,
    Org,
    add_member,
    assert_problem,
    invite,
    login,
    register,
    unique_email,
)


def events(client: TestClient, admin: Actor, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/audit-events?limit=100{query}", headers=admin.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def with_request_id(actor: Actor) -> tuple[dict[str, str], str]:
    request_id = f"audit-{uuid.uuid4().hex}"
    return {**actor.headers, "X-Request-ID": request_id}, request_id


def only(items: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    mine = [item for item in items if item["request_id"] == request_id]
    assert len(mine) == 1, mine
    return mine[0]


def test_each_change_through_the_api_leaves_one_event_with_actor_target_and_request_id(
    client: TestClient, org: Org
) -> None:
    admin = org.admin
    headers, rid = with_request_id(org.user)
    project = client.post("/projects", json={"name": "Audited"}, headers=headers).json()
    event = only(events(client, admin), rid)
    assert {k: event[k] for k in ("action", "actor_user_id", "target_type", "target_id")} == {
        "action": "project.created",
        "actor_user_id": org.user.user_id,
        "target_type": "project",
        "target_id": project["id"],
    }
    assert event["changes"]["name"] == {"old": None, "new": "Audited"}
    assert event["organization_id"] == admin.org_id

    headers, rid = with_request_id(org.user)
    patched = client.patch(
        f"/projects/{project['id']}", json={"description": "now"}, headers=headers
    )
    assert patched.status_code == 200
    event = only(events(client, admin), rid)
    assert (event["action"], event["changes"]) == (
        "project.updated",
        {"description": {"old": None, "new": "now"}},
    )

    headers, rid = with_request_id(admin)
    assert client.delete(f"/projects/{project['id']}", headers=headers).status_code == 204
    assert only(events(client, admin), rid)["action"] == "project.deleted"

    newcomer = register(client, "newcomer")
    invitation = invite(client, admin, newcomer.email, "READ_ONLY")
    headers, rid = with_request_id(newcomer)
    accepted = client.post(
        "/invitations/accept", json={"token": invitation["token"]}, headers=headers
    )
    assert accepted.status_code == 200
    # Two changes, one event each: the invitation is used, the member added.
    mine = [e for e in events(client, admin) if e["request_id"] == rid]
    assert [(e["action"], e["actor_user_id"], e["target_id"]) for e in mine] == [
        ("member.added", newcomer.user_id, newcomer.user_id),
        ("invitation.accepted", newcomer.user_id, invitation["id"]),
    ]

    headers, rid = with_request_id(admin)
    changed = client.patch(
        f"/members/{newcomer.user_id}", json={"role": "ORG_USER"}, headers=headers
    )
    assert changed.status_code == 200
    event = only(events(client, admin), rid)
    assert (event["action"], event["changes"]) == (
        "member.role_changed",
        {"role": {"old": "READ_ONLY", "new": "ORG_USER"}},
    )

    member = Actor(newcomer.user_id, newcomer.email, admin.org_id, "")
    member.token = login(client, newcomer.email, admin.org_id)
    headers, rid = with_request_id(member)
    assert client.delete(f"/members/{newcomer.user_id}", headers=headers).status_code == 204
    event = only(events(client, admin), rid)
    assert (event["action"], event["actor_user_id"]) == ("member.left", newcomer.user_id)

    headers, rid = with_request_id(admin)
    assert client.delete(f"/members/{org.read_only.user_id}", headers=headers).status_code == 204
    event = only(events(client, admin), rid)
    assert (event["action"], event["target_id"]) == ("member.removed", org.read_only.user_id)


def test_each_invitation_change_leaves_one_event_and_never_its_token(
    client: TestClient, org: Org
) -> None:
    admin = org.admin
    newcomer = register(client, "invitee")
    headers, rid = with_request_id(admin)
    created = client.post(
        "/invitations", json={"email": newcomer.email, "role": "ORG_USER"}, headers=headers
    )
    assert created.status_code == 201
    invitation = created.json()
    event = only(events(client, admin), rid)
    assert {k: event[k] for k in ("action", "actor_user_id", "target_type", "target_id")} == {
        "action": "invitation.created",
        "actor_user_id": admin.user_id,
        "target_type": "invitation",
        "target_id": invitation["id"],
    }
    assert event["changes"]["email"] == {"old": None, "new": newcomer.email}
    assert event["changes"]["role"] == {"old": None, "new": "ORG_USER"}

    headers, rid = with_request_id(admin)
    assert client.delete(f"/invitations/{invitation['id']}", headers=headers).status_code == 204
    event = only(events(client, admin), rid)
    assert (event["action"], event["actor_user_id"], event["target_id"]) == (
        "invitation.revoked",
        admin.user_id,
        invitation["id"],
    )
    # Revoking it again finds nothing and records nothing.
    headers, rid = with_request_id(admin)
    assert client.delete(f"/invitations/{invitation['id']}", headers=headers).status_code == 404
    assert [e for e in events(client, admin) if e["request_id"] == rid] == []

    again = invite(client, admin, newcomer.email, "READ_ONLY")
    headers, rid = with_request_id(newcomer)
    accepted = client.post("/invitations/accept", json={"token": again["token"]}, headers=headers)
    assert accepted.status_code == 200
    mine = [e for e in events(client, admin) if e["request_id"] == rid]
    assert [(e["action"], e["actor_user_id"], e["target_id"]) for e in mine] == [
        ("member.added", newcomer.user_id, newcomer.user_id),
        ("invitation.accepted", newcomer.user_id, again["id"]),
    ]
    assert mine[1]["changes"]["accepted_by_user_id"] == {"old": None, "new": newcomer.user_id}

    email = unique_email("registers")
    third = invite(client, admin, email, "READ_ONLY")
    registered = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "invitation_token": third["token"]},
        headers={"X-Request-ID": "register-invited-1"},
    )
    assert registered.status_code == 201, registered.text
    user_id = registered.json()["user"]["id"]
    mine = [e for e in events(client, admin) if e["request_id"] == "register-invited-1"]
    assert [(e["action"], e["actor_user_id"], e["target_id"]) for e in mine] == [
        ("member.added", user_id, user_id),
        ("invitation.accepted", user_id, third["id"]),
    ]

    # No event holds a token, nor the digest the database keeps of it.
    recorded = json.dumps(events(client, admin))
    for token in (invitation["token"], again["token"], third["token"]):
        assert token not in recorded
        assert hashlib.sha256(token.encode()).hexdigest() not in recorded
    assert "token" not in recorded


def test_registration_and_new_organization_are_recorded_in_the_new_organization(
    client: TestClient,
) -> None:
    email = f"founder-{uuid.uuid4().hex[:8]}@example.com"
    registered = client.post(
        "/auth/register",
        json={
            "email": email,
            "password": "correct horse battery",
            "organization_name": f"Acme {uuid.uuid4().hex[:8]}",
        },
        headers={"X-Request-ID": "register-1"},
    ).json()
    founder = Actor(
        registered["user"]["id"],
        email,
        registered["organization"]["id"],
        registered["access_token"],
    )
    assert [
        (e["action"], e["actor_user_id"], e["request_id"]) for e in events(client, founder)
    ] == [
        ("member.added", founder.user_id, "register-1"),
        ("organization.created", None, "register-1"),
    ]

    headers, rid = with_request_id(founder)
    second = client.post(
        "/organizations", json={"name": f"Second {uuid.uuid4().hex[:8]}"}, headers=headers
    ).json()
    switched = client.post(
        "/auth/switch-organization", json={"organization_id": second["id"]}, headers=founder.headers
    ).json()
    in_second = Actor(founder.user_id, email, second["id"], switched["access_token"])
    assert [(e["action"], e["target_id"], e["request_id"]) for e in events(client, in_second)] == [
        ("member.added", founder.user_id, rid),
        ("organization.created", second["id"], rid),
    ]


@pytest.mark.parametrize("role", ["user", "read_only"])
def test_members_who_are_not_admins_get_403(client: TestClient, org: Org, role: str) -> None:
    actor: Actor = getattr(org, role)
    assert_problem(client.get("/audit-events", headers=actor.headers), 403)


def test_removed_member_gets_403_and_another_tenant_sees_none_of_these_events(
    client: TestClient, org: Org, other_org: Org
) -> None:
    mine = {e["id"] for e in events(client, org.admin)}
    theirs = {e["id"] for e in events(client, other_org.admin)}
    assert mine and theirs and not mine & theirs
    assert {e["organization_id"] for e in events(client, other_org.admin)} == {
        other_org.admin.org_id
    }
    second = add_member(client, org.admin, "ORG_ADMIN", "second")
    assert client.delete(f"/members/{second.user_id}", headers=org.admin.headers).status_code == 204
    assert_problem(client.get("/audit-events", headers=second.headers), 403)


def test_filters_select_matching_events_only(client: TestClient, org: Org) -> None:
    admin = org.admin
    every = events(client, admin)
    assert {"project.created", "member.added", "organization.created"} <= {
        e["action"] for e in every
    }

    created = events(client, admin, "&action=project.created")
    assert created and {e["action"] for e in created} == {"project.created"}
    assert [e["id"] for e in created] == [
        e["id"] for e in every if e["action"] == "project.created"
    ]

    by_user = events(client, admin, f"&actor_user_id={org.admin.user_id}")
    assert by_user and {e["actor_user_id"] for e in by_user} == {org.admin.user_id}

    on_project = events(client, admin, f"&target_id={org.project_id}")
    assert [e["action"] for e in on_project] == ["project.created"]

    middle = datetime.fromisoformat(every[len(every) // 2]["occurred_at"])
    since = events(client, admin, f"&since={middle.isoformat().replace('+', '%2B')}")
    until = events(client, admin, f"&until={middle.isoformat().replace('+', '%2B')}")
    assert [e["id"] for e in since] + [e["id"] for e in until] == [e["id"] for e in every]
    assert all(datetime.fromisoformat(e["occurred_at"]) >= middle for e in since)

    later = (middle + timedelta(days=1)).isoformat().replace("+", "%2B")
    combined = events(client, admin, f"&action=member.added&until={later}")
    assert [e["id"] for e in combined] == [e["id"] for e in every if e["action"] == "member.added"]


def test_pages_walk_every_event_newest_first(client: TestClient, org: Org) -> None:
    for n in range(4):
        client.post("/projects", json={"name": f"paged {n}"}, headers=org.user.headers)
    every = events(client, org.admin)
    pages = walk(client, "/audit-events", org.admin.headers, 2)
    walked = [item for page in pages for item in page]
    assert [e["id"] for e in walked] == [e["id"] for e in every]
    order = [(datetime.fromisoformat(e["occurred_at"]), e["id"]) for e in every]
    assert order == sorted(order, reverse=True)


@pytest.mark.parametrize(
    "query",
    [
        "action=project.exploded",
        "actor_user_id=not-a-uuid",
        "target_id=42",
        "since=yesterday",
        "until=2026-01-01T00:00:00",  # no time zone
        "cursor=not*a*cursor",
        "limit=0",
    ],
)
def test_bad_filters_are_422(client: TestClient, org: Org, query: str) -> None:
    assert_problem(client.get(f"/audit-events?{query}", headers=org.admin.headers), 422)
