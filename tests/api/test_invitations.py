"""Invitations over HTTP: consent, one answer for every unusable token, no enumeration.

The role matrix of each endpoint is in test_access_matrix.py; the races are
in tests/resilience/test_concurrency.py. Here: what an invitee, an inviter
and an attacker see.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.support.api import (
    PASSWORD,
    Actor,
    Org,
    accept,
    assert_problem,
    invite,
    login,
    owner_sql,
    register,
    unique_email,
)
from tests.support.database import TestDatabase


def organizations_of(client: TestClient, actor: Actor) -> dict[str, str]:
    response = client.get("/organizations?limit=100", headers=actor.headers)
    assert response.status_code == 200, response.text
    return {item["id"]: item["role"] for item in response.json()["items"]}


def member_ids(client: TestClient, admin: Actor) -> set[str]:
    response = client.get("/members?limit=100", headers=admin.headers)
    assert response.status_code == 200, response.text
    return {item["user_id"] for item in response.json()["items"]}


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("request_id")
    return body


# ------------------------------------------------------------------ consent


def test_invited_user_is_not_a_member_until_they_accept(client: TestClient, org: Org) -> None:
    invitee = register(client, "invitee")
    invitation = invite(client, org.admin, invitee.email, "ORG_USER")

    assert org.admin.org_id not in organizations_of(client, invitee)
    assert invitee.user_id not in member_ids(client, org.admin)
    assert_problem(
        client.post(
            "/auth/switch-organization",
            json={"organization_id": org.admin.org_id},
            headers=invitee.headers,
        ),
        404,
    )

    joined = accept(client, invitee, invitation["token"])

    assert joined.org_id == org.admin.org_id
    assert organizations_of(client, invitee)[org.admin.org_id] == "ORG_USER"
    assert invitee.user_id in member_ids(client, org.admin)
    me = client.get("/auth/me", headers=joined.headers).json()
    assert (me["organization"]["id"], me["role"]) == (org.admin.org_id, "ORG_USER")


def test_accept_answers_with_the_switch_organization_shape(client: TestClient, org: Org) -> None:
    invitee = register(client, "shape")
    invitation = invite(client, org.admin, invitee.email, "READ_ONLY")

    response = client.post(
        "/invitations/accept", json={"token": invitation["token"]}, headers=invitee.headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
        "organization",
        "role",
    }
    assert body["role"] == "READ_ONLY"
    assert body["organization"]["id"] == org.admin.org_id
    assert body["refresh_expires_in"] > 0


def test_accepting_moves_the_session_and_rotates_its_refresh_token(
    client: TestClient, org: Org
) -> None:
    invitee = register(client, "session")
    invitation = invite(client, org.admin, invitee.email, "ORG_USER")

    joined = accept(client, invitee, invitation["token"])

    # The same session, now in the organization joined, with a new refresh token.
    assert joined.session_id == invitee.session_id
    assert joined.refresh_token != invitee.refresh_token
    refreshed = client.post("/auth/refresh", json={"refresh_token": joined.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert (body["organization"]["id"], body["role"]) == (org.admin.org_id, "ORG_USER")
    # The refresh token from before the acceptance is spent: presenting it
    # ends the session, as after switching organization.
    assert_problem(client.post("/auth/refresh", json={"refresh_token": invitee.refresh_token}), 401)
    assert_problem(client.get("/auth/me", headers=joined.headers), 401)


def test_an_unusable_token_leaves_the_session_as_it_was(client: TestClient, org: Org) -> None:
    invitee = register(client, "kept")

    assert_problem(
        client.post("/invitations/accept", json={"token": "not-a-token"}, headers=invitee.headers),
        404,
    )

    refreshed = client.post("/auth/refresh", json={"refresh_token": invitee.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["organization"]["id"] == invitee.org_id


def test_the_attack_of_unconsented_admin_membership_no_longer_works(client: TestClient) -> None:
    victim = register(client, "victim")
    attacker = register(client, "attacker", "IT Support - verify your account at evil.example")

    # Adding directly is gone.
    direct = client.post(
        "/members", json={"email": victim.email, "role": "ORG_ADMIN"}, headers=attacker.headers
    )
    assert_problem(direct, 405)
    # An invitation changes nothing for the victim until they accept it.
    invite(client, attacker, victim.email, "ORG_ADMIN")
    assert set(organizations_of(client, victim)) == {victim.org_id}
    assert victim.user_id not in member_ids(client, attacker)


def test_a_member_who_was_invited_anyway_can_always_leave(client: TestClient, org: Org) -> None:
    invitee = register(client, "leaver")
    joined = accept(client, invitee, invite(client, org.admin, invitee.email, "ORG_ADMIN")["token"])

    response = client.delete(f"/members/{invitee.user_id}", headers=joined.headers)

    assert response.status_code == 204, response.text
    assert org.admin.org_id not in organizations_of(client, invitee)


# ------------------------------------------------------------------ no enumeration


def test_inviting_a_registered_and_an_unregistered_email_answer_alike(
    client: TestClient, org: Org
) -> None:
    registered = register(client, "known").email
    unregistered = unique_email("unknown")

    answers = [
        client.post("/invitations", json={"email": email, "role": "ORG_USER"}, headers=h)
        for email, h in ((registered, org.admin.headers), (unregistered, org.admin.headers))
    ]

    assert [a.status_code for a in answers] == [201, 201]
    first, second = (a.json() for a in answers)
    assert set(first) == set(second)
    for key in ("role", "invited_by_user_id"):
        assert first[key] == second[key]
    assert len(first["token"]) == len(second["token"])
    assert sorted(answers[0].headers) == sorted(answers[1].headers)


def test_the_email_resolver_is_gone_from_the_database(database: TestDatabase) -> None:
    rows = owner_sql(
        database,
        "select count(*) from pg_proc"
        " where proname = 'user_id_for_invite' and pronamespace = 'iam'::regnamespace",
    )
    assert rows == [(0,)]


# ------------------------------------------------------------------ tokens


def test_token_is_shown_once_and_stored_only_as_its_sha256_digest(
    client: TestClient, database: TestDatabase, org: Org
) -> None:
    invitation = invite(client, org.admin, unique_email("digest"), "ORG_USER")
    token = invitation["token"]

    # 32 random bytes, URL-safe base64 without padding.
    assert len(token) == 43
    rows = owner_sql(
        database,
        "select token_hash, to_jsonb(i)::text from iam.invitations as i where id = %s",
        (invitation["id"],),
    )
    stored, whole_row = rows[0]
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()
    assert token not in whole_row
    listed = client.get("/invitations?limit=100", headers=org.admin.headers)
    assert token not in listed.text
    assert stored.hex() not in listed.text


def test_expiry_follows_invitation_ttl_seconds(client: TestClient, org: Org) -> None:
    invitation = invite(client, org.admin, unique_email("ttl"), "ORG_USER")
    created = datetime.fromisoformat(invitation["created_at"])
    expires = datetime.fromisoformat(invitation["expires_at"])
    ttl = client.app.state.rls_iam.settings.invitation_ttl_seconds  # type: ignore[attr-defined]
    assert (expires - created).total_seconds() == pytest.approx(ttl, abs=1)


UNUSABLE = ["unknown", "expired", "revoked", "used", "other_email"]


@pytest.mark.parametrize("case", UNUSABLE)
def test_every_unusable_token_gets_the_same_404(
    client: TestClient, database: TestDatabase, org: Org, case: str
) -> None:
    invitee = register(client, "unusable")
    other = register(client, "bystander")
    caller = invitee
    if case == "unknown":
        token = "A" * 43
    else:
        invitation = invite(client, org.admin, invitee.email, "ORG_USER")
        token = invitation["token"]
        if case == "expired":
            owner_sql(
                database,
                "update iam.invitations set created_at = now() - interval '2 days',"
                " expires_at = now() - interval '1 second' where id = %s",
                (invitation["id"],),
            )
        elif case == "revoked":
            response = client.delete(f"/invitations/{invitation['id']}", headers=org.admin.headers)
            assert response.status_code == 204
        elif case == "used":
            accept(client, invitee, token)
            client.delete(f"/members/{invitee.user_id}", headers=org.admin.headers)
        elif case == "other_email":
            caller = other

    response = client.post("/invitations/accept", json={"token": token}, headers=caller.headers)

    assert_problem(response, 404)
    reference = client.post("/invitations/accept", json={"token": "B" * 43}, headers=caller.headers)
    assert without_request_id(response) == without_request_id(reference)
    assert org.admin.org_id not in organizations_of(client, caller)


def test_accept_needs_a_signed_in_user(client: TestClient, org: Org) -> None:
    invitation = invite(client, org.admin, unique_email("anon"), "ORG_USER")
    response = client.post("/invitations/accept", json={"token": invitation["token"]})
    assert_problem(response, 401)


def test_emails_match_case_insensitively(client: TestClient, org: Org) -> None:
    invitee = register(client, "casing")
    invitation = invite(client, org.admin, invitee.email.upper(), "ORG_USER")
    assert invitation["email"] == invitee.email
    assert accept(client, invitee, invitation["token"]).org_id == org.admin.org_id


# ------------------------------------------------------------------ pending invitations


def test_a_second_pending_invitation_for_one_email_is_409(client: TestClient, org: Org) -> None:
    email = unique_email("twice")
    invite(client, org.admin, email, "ORG_USER")
    response = client.post(
        "/invitations",
        json={"email": email.upper(), "role": "READ_ONLY"},
        headers=org.admin.headers,
    )
    assert_problem(response, 409)


def test_an_expired_invitation_does_not_block_a_new_one(
    client: TestClient, database: TestDatabase, org: Org
) -> None:
    email = unique_email("again")
    first = invite(client, org.admin, email, "ORG_USER")
    owner_sql(
        database,
        "update iam.invitations set created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 second' where id = %s",
        (first["id"],),
    )
    listed = client.get("/invitations?limit=100", headers=org.admin.headers).json()["items"]
    assert first["id"] not in {item["id"] for item in listed}

    second = invite(client, org.admin, email, "READ_ONLY")

    assert second["id"] != first["id"]


def test_pending_invitations_are_capped_per_organization(
    client: TestClient, database: TestDatabase
) -> None:
    admin = register(client, "cap")
    # 99 pending, stored as a request would store them (the admin's context).
    with psycopg.connect(database.conninfo) as conn:
        conn.execute(
            "select set_config('iam.user_id', %s, true), set_config('iam.org_id', %s, true)",
            (admin.user_id, admin.org_id),
        )
        conn.execute(
            "insert into iam.invitations (email, role, token_hash, expires_at)"
            " select 'cap-' || n || '-' || %s || '@example.com', 'READ_ONLY',"
            "        sha256(convert_to(gen_random_uuid()::text, 'UTF8')), now() + interval '1 day'"
            " from generate_series(1, 99) as n",
            (uuid.uuid4().hex[:8],),
        )

    hundredth = client.post(
        "/invitations",
        json={"email": unique_email("cap"), "role": "ORG_USER"},
        headers=admin.headers,
    )
    over = client.post(
        "/invitations",
        json={"email": unique_email("cap"), "role": "ORG_USER"},
        headers=admin.headers,
    )

    assert hundredth.status_code == 201, hundredth.text
    assert_problem(over, 409)
    rows = owner_sql(
        database, "select count(*) from iam.invitations where organization_id = %s", (admin.org_id,)
    )
    assert rows == [(100,)]


# ------------------------------------------------------------------ register with a token


def test_register_with_an_invitation_joins_the_inviting_organization(
    client: TestClient, org: Org
) -> None:
    email = unique_email("newcomer")
    invitation = invite(client, org.admin, email, "ORG_USER")

    response = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "invitation_token": invitation["token"]},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["organization"]["id"] == org.admin.org_id
    assert body["role"] == "ORG_USER"
    assert body["refresh_expires_in"] > 0
    newcomer = Actor(
        body["user"]["id"], email, org.admin.org_id, body["access_token"], body["refresh_token"]
    )
    # A session like any registration's: refreshing keeps the joined organization.
    refreshed = client.post("/auth/refresh", json={"refresh_token": newcomer.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert (refreshed.json()["organization"]["id"], refreshed.json()["role"]) == (
        org.admin.org_id,
        "ORG_USER",
    )
    assert refreshed.json()["access_token"] != newcomer.token
    assert organizations_of(client, newcomer) == {org.admin.org_id: "ORG_USER"}
    assert login(client, email)
    # Used: the same token registers nobody else, nor joins anyone.
    again = client.post(
        "/auth/register",
        json={
            "email": unique_email("second"),
            "password": PASSWORD,
            "invitation_token": invitation["token"],
        },
    )
    assert_problem(again, 404)


@pytest.mark.parametrize("case", ["other_email", "unknown", "revoked"])
def test_register_with_an_unusable_invitation_is_404_and_creates_nothing(
    client: TestClient, database: TestDatabase, org: Org, case: str
) -> None:
    email = unique_email("hopeful")
    invitation = invite(client, org.admin, email, "ORG_USER")
    token = invitation["token"] if case != "unknown" else "C" * 43
    register_as = unique_email("impostor") if case == "other_email" else email
    if case == "revoked":
        client.delete(f"/invitations/{invitation['id']}", headers=org.admin.headers)

    response = client.post(
        "/auth/register",
        json={"email": register_as, "password": PASSWORD, "invitation_token": token},
    )

    assert_problem(response, 404)
    assert owner_sql(database, "select 1 from iam.users where email = %s", (register_as,)) == []


def test_register_with_an_invitation_for_a_taken_email_is_409(client: TestClient, org: Org) -> None:
    existing = register(client, "existing")
    invitation = invite(client, org.admin, existing.email, "ORG_USER")
    response = client.post(
        "/auth/register",
        json={
            "email": existing.email,
            "password": PASSWORD,
            "invitation_token": invitation["token"],
        },
    )
    assert_problem(response, 409)
    # The invitation is still there to accept after logging in.
    assert accept(client, existing, invitation["token"]).org_id == org.admin.org_id


@pytest.mark.parametrize(
    "extra",
    [{}, {"organization_name": "Both", "invitation_token": "D" * 43}],
    ids=["neither", "both"],
)
def test_register_takes_exactly_one_of_organization_name_and_invitation_token(
    client: TestClient, extra: dict[str, str]
) -> None:
    response = client.post(
        "/auth/register", json={"email": unique_email("either"), "password": PASSWORD, **extra}
    )
    assert_problem(response, 422)


def test_an_invitation_is_shown_only_while_it_is_pending(
    client: TestClient, database: TestDatabase, org: Org
) -> None:
    expired = invite(client, org.admin, unique_email("gone-expired"), "ORG_USER")
    revoked = invite(client, org.admin, unique_email("gone-revoked"), "ORG_USER")
    revoking = client.delete(f"/invitations/{revoked['id']}", headers=org.admin.headers)
    assert revoking.status_code == 204
    invitee = register(client, "gone-accepted")
    accepted = invite(client, org.admin, invitee.email, "ORG_USER")
    accept(client, invitee, accepted["token"])
    # Expired last: a new invitation clears the organization's expired ones.
    owner_sql(
        database,
        "update iam.invitations set created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 second' where id = %s",
        (expired["id"],),
    )
    assert owner_sql(database, "select 1 from iam.invitations where id = %s", (expired["id"],))

    for gone in (expired, revoked, accepted):
        response = client.get(f"/invitations/{gone['id']}", headers=org.admin.headers)
        assert assert_problem(response, 404)["type"] == "/problems/not-found"
