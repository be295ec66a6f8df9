"""Sessions and credentials (docs/sessions.md): refresh with rotation and reuse
detection, logout, the session list, revocation, password change, and a user
who belongs to no organization."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from service.db import runner
from tests.support.api import (
    PASSWORD,
    TEST_SECRET,
    Actor,
    Org,
    assert_problem,
    owner_sql,
    register,
)
from tests.support.database import TestDatabase

NEW_PASSWORD = "another correct horse battery"
TTL = 30 * 86400


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sid_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def sign_in(client: TestClient, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    response = client.post("/auth/login", json={"email": email, "password": password, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def refresh(client: TestClient, refresh_token: str) -> Any:
    return client.post("/auth/refresh", json={"refresh_token": refresh_token})


def session_count(database: TestDatabase, user_id: str) -> int:
    return int(
        owner_sql(database, "select count(*) from iam.sessions where user_id = %s", (user_id,))[0][
            0
        ]
    )


# ------------------------------------------------------------------ sign-in


def test_login_answers_with_a_refresh_token_of_256_bits_stored_only_as_a_digest(
    client: TestClient, database: TestDatabase
) -> None:
    actor = register(client, "rt")
    body = sign_in(client, actor.email)
    token = body["refresh_token"]
    assert len(token) >= 43 and token != actor.refresh_token  # 32 bytes, base64url
    assert TTL - 60 <= body["refresh_expires_in"] <= TTL
    stored = owner_sql(
        database,
        "select t.token_hash from iam.refresh_tokens as t"
        " join iam.sessions as s on s.id = t.session_id where s.id = %s",
        (sid_of(body["access_token"]),),
    )
    assert len(stored) == 1
    digest = bytes(stored[0][0])
    assert len(digest) == 32 and token.encode() not in digest
    import hashlib

    assert digest == hashlib.sha256(token.encode()).digest()
    # Nowhere in the database in clear.
    dump = owner_sql(database, "select row_to_json(t)::text from iam.refresh_tokens as t")
    assert all(token not in row[0] for row in dump)


def test_each_sign_in_is_a_session_of_its_own(client: TestClient, database: TestDatabase) -> None:
    actor = register(client, "many")
    first, second = sign_in(client, actor.email), sign_in(client, actor.email)
    sids = {actor.session_id, sid_of(first["access_token"]), sid_of(second["access_token"])}
    assert len(sids) == 3
    assert session_count(database, actor.user_id) == 3


# ------------------------------------------------------------------ refresh


def test_refresh_rotates_and_keeps_the_session(client: TestClient) -> None:
    actor = register(client, "rot")
    response = refresh(client, actor.refresh_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"] != actor.refresh_token
    assert body["access_token"] != actor.token
    assert sid_of(body["access_token"]) == actor.session_id
    assert body["organization"]["id"] == actor.org_id and body["role"] == "ORG_ADMIN"
    me = client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["user"]["id"] == actor.user_id


def test_a_client_stays_signed_in_by_refreshing_without_the_password(client: TestClient) -> None:
    actor = register(client, "stay")
    token = actor.refresh_token
    for _ in range(5):
        response = refresh(client, token)
        assert response.status_code == 200, response.text
        token = response.json()["refresh_token"]
        access = response.json()["access_token"]
        assert client.get("/projects", headers=bearer(access)).status_code == 200


def test_a_spent_refresh_token_is_401_and_ends_the_whole_session(client: TestClient) -> None:
    actor = register(client, "reuse")
    rotated = refresh(client, actor.refresh_token).json()
    assert client.get("/auth/me", headers=bearer(rotated["access_token"])).status_code == 200
    # The old token comes back (stolen, or replayed): refused, and the session ends.
    assert_problem(refresh(client, actor.refresh_token), 401)
    assert_problem(refresh(client, rotated["refresh_token"]), 401)
    assert_problem(client.get("/auth/me", headers=bearer(rotated["access_token"])), 401)
    assert_problem(client.get("/projects", headers=actor.headers), 401)


def test_reuse_ends_only_that_session(client: TestClient) -> None:
    actor = register(client, "only")
    other = sign_in(client, actor.email)
    refresh(client, actor.refresh_token)
    assert_problem(refresh(client, actor.refresh_token), 401)
    assert client.get("/auth/me", headers=bearer(other["access_token"])).status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200


def test_unknown_or_malformed_refresh_tokens_are_refused(client: TestClient) -> None:
    for token in ("x", "a" * 43, "a" * 200):
        assert_problem(refresh(client, token), 401)
    for body in (
        {},
        {"refresh_token": ""},
        {"refresh_token": "a" * 201},
        {"refresh_token": 5},
        {"refresh_token": "x", "extra": 1},
    ):
        assert_problem(client.post("/auth/refresh", json=body), 422)


def test_an_expired_session_cannot_refresh_and_its_tokens_stop(
    client: TestClient, database: TestDatabase
) -> None:
    actor = register(client, "expired")
    owner_sql(
        database,
        "update iam.sessions set created_at = now() - interval '31 days',"
        " expires_at = now() - interval '1 second' where id = %s",
        (actor.session_id,),
    )
    assert_problem(client.get("/auth/me", headers=actor.headers), 401)
    assert_problem(refresh(client, actor.refresh_token), 401)


def test_refresh_of_a_removed_member_signs_in_without_an_organization(
    client: TestClient, org: Org, database: TestDatabase
) -> None:
    signed = sign_in(client, org.user.email, organization_id=org.user.org_id)
    owner_sql(
        database,
        "delete from iam.organization_memberships where user_id = %s and organization_id = %s",
        (org.user.user_id, org.user.org_id),
    )
    body = refresh(client, signed["refresh_token"]).json()
    # The user still belongs to the organization they registered with, but the
    # session was in this one: no organization rather than another one.
    assert body["organization"] is None and body["role"] is None
    claims = jwt.decode(
        body["access_token"], TEST_SECRET, algorithms=["HS256"], audience="rls-iam-api"
    )
    assert claims["org_id"] is None


def test_a_deactivated_user_cannot_refresh(client: TestClient, database: TestDatabase) -> None:
    actor = register(client, "inactive")
    owner_sql(database, "update iam.users set is_active = false where id = %s", (actor.user_id,))
    assert_problem(refresh(client, actor.refresh_token), 401)


# ------------------------------------------------------------------ logout and revocation


def test_logout_ends_the_session_access_and_refresh(client: TestClient) -> None:
    actor = register(client, "logout")
    other = sign_in(client, actor.email)
    assert client.get("/projects", headers=actor.headers).status_code == 200  # cached now
    response = client.post("/auth/logout", headers=actor.headers)
    assert response.status_code == 204, response.text
    for method, path in (
        ("GET", "/auth/me"),
        ("GET", "/projects"),
        ("POST", "/auth/logout"),
        ("GET", "/auth/sessions"),
        ("GET", "/organizations"),
    ):
        assert_problem(client.request(method, path, headers=actor.headers), 401)
    assert_problem(refresh(client, actor.refresh_token), 401)
    # The user's other session goes on.
    assert client.get("/auth/me", headers=bearer(other["access_token"])).status_code == 200


class _NeverInContext:
    """Stands in for the runner's per-connection verdict: every connection takes
    the path of a NOINHERIT login role (the caller and the session checked in a
    statement of their own)."""

    def get(self, conn: object, default: bool) -> bool:
        return False

    def __setitem__(self, conn: object, value: bool) -> None:
        pass


@pytest.mark.parametrize("path", ["context", "fallback"])
def test_a_logged_out_token_changes_nothing(
    client: TestClient, database: TestDatabase, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The session check runs before the request's statement, in its transaction,
    whichever context statement the login role may run."""
    if path == "fallback":
        monkeypatch.setattr(runner, "_reads_caller_in_context", _NeverInContext())
    actor = register(client, f"nowrite-{path}")
    assert client.get("/projects", headers=actor.headers).status_code == 200
    assert client.post("/auth/logout", headers=actor.headers).status_code == 204
    assert_problem(client.post("/projects", json={"name": "ghost"}, headers=actor.headers), 401)
    rows = owner_sql(
        database, "select count(*) from iam.projects where organization_id = %s", (actor.org_id,)
    )
    assert rows == [(0,)]


def test_the_session_list_shows_only_the_callers_live_sessions(
    client: TestClient, database: TestDatabase
) -> None:
    actor = register(client, "list")
    other = sign_in(client, actor.email)
    stranger = register(client, "stranger")
    response = client.get("/auth/sessions", headers={**actor.headers, "User-Agent": "ua-test"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert {i["id"] for i in items} == {actor.session_id, sid_of(other["access_token"])}
    assert stranger.session_id not in {i["id"] for i in items}
    assert set(items[0]) == {
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "current",
    }
    assert [i["id"] for i in items if i["current"]] == [actor.session_id]
    assert response.json()["next_cursor"] is None
    first = client.get("/auth/sessions?limit=1", headers=actor.headers).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = client.get(
        f"/auth/sessions?limit=1&cursor={first['next_cursor']}", headers=actor.headers
    ).json()
    assert {first["items"][0]["id"], rest["items"][0]["id"]} == {i["id"] for i in items}


def test_revoking_a_session_ends_its_tokens_on_their_next_request(client: TestClient) -> None:
    actor = register(client, "revoke")
    laptop = sign_in(client, actor.email)
    assert client.get("/projects", headers=bearer(laptop["access_token"])).status_code == 200
    response = client.delete(
        f"/auth/sessions/{sid_of(laptop['access_token'])}", headers=actor.headers
    )
    assert response.status_code == 204, response.text
    assert_problem(client.get("/projects", headers=bearer(laptop["access_token"])), 401)
    assert_problem(refresh(client, laptop["refresh_token"]), 401)
    assert client.get("/projects", headers=actor.headers).status_code == 200


def test_another_users_session_is_404_and_stays(client: TestClient) -> None:
    actor, stranger = register(client, "mine"), register(client, "theirs")
    assert_problem(
        client.delete(f"/auth/sessions/{stranger.session_id}", headers=actor.headers), 404
    )
    assert_problem(client.delete(f"/auth/sessions/{uuid.uuid4()}", headers=actor.headers), 404)
    assert client.get("/auth/me", headers=stranger.headers).status_code == 200


def test_revoking_ones_own_current_session_is_a_logout(client: TestClient) -> None:
    actor = register(client, "self")
    assert (
        client.delete(f"/auth/sessions/{actor.session_id}", headers=actor.headers).status_code
        == 204
    )
    assert_problem(client.get("/auth/me", headers=actor.headers), 401)


# ------------------------------------------------------------------ password change


def change_password(
    client: TestClient, actor_headers: dict[str, str], current: str, new: str = NEW_PASSWORD
) -> Any:
    return client.post(
        "/auth/password",
        headers=actor_headers,
        json={"current_password": current, "new_password": new},
    )


def test_password_change_ends_every_other_session(client: TestClient) -> None:
    actor = register(client, "pw")
    phone = sign_in(client, actor.email)
    assert client.get("/projects", headers=bearer(phone["access_token"])).status_code == 200
    response = change_password(client, actor.headers, PASSWORD)
    assert response.status_code == 204, response.text
    assert_problem(client.get("/projects", headers=bearer(phone["access_token"])), 401)
    assert_problem(refresh(client, phone["refresh_token"]), 401)
    # The caller's own session goes on, and refreshes.
    assert client.get("/projects", headers=actor.headers).status_code == 200
    assert refresh(client, actor.refresh_token).status_code == 200
    # The new password signs in, the old one no longer does.
    sign_in(client, actor.email, NEW_PASSWORD)
    response = client.post("/auth/login", json={"email": actor.email, "password": PASSWORD})
    assert_problem(response, 401)


def test_wrong_current_password_is_401_and_changes_nothing(
    client: TestClient, database: TestDatabase
) -> None:
    actor = register(client, "pwbad")
    phone = sign_in(client, actor.email)
    before = owner_sql(
        database, "select password_hash from iam.users where id = %s", (actor.user_id,)
    )
    assert_problem(change_password(client, actor.headers, "not the password at all"), 401)
    after = owner_sql(
        database, "select password_hash from iam.users where id = %s", (actor.user_id,)
    )
    assert before == after
    assert client.get("/auth/me", headers=bearer(phone["access_token"])).status_code == 200
    sign_in(client, actor.email)


def test_new_password_rules_are_those_of_registration(client: TestClient) -> None:
    actor = register(client, "pwrule")
    assert_problem(change_password(client, actor.headers, PASSWORD, "short"), 422)
    assert_problem(change_password(client, actor.headers, PASSWORD, "p" * 129), 422)
    assert_problem(
        client.post("/auth/password", headers=actor.headers, json={"current_password": PASSWORD}),
        422,
    )


def test_password_change_needs_a_live_session(client: TestClient) -> None:
    actor = register(client, "pwout")
    client.post("/auth/logout", headers=actor.headers)
    assert_problem(change_password(client, actor.headers, PASSWORD), 401)
    assert_problem(
        client.post(
            "/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        ),
        401,
    )


# ------------------------------------------------------------------ switching organization


def test_switching_organization_rotates_the_session_refresh_token(
    client: TestClient, org: Org
) -> None:
    user = org.user  # member of their own organization and of org's
    signed = sign_in(client, user.email)
    response = client.post(
        "/auth/switch-organization",
        json={"organization_id": org.admin.org_id},
        headers=bearer(signed["access_token"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert sid_of(body["access_token"]) == sid_of(signed["access_token"])
    assert body["refresh_token"] != signed["refresh_token"]
    # Refresh keeps the organization switched to.
    again = refresh(client, body["refresh_token"]).json()
    assert again["organization"]["id"] == org.admin.org_id and again["role"] == "ORG_USER"
    # The token from before the switch is spent: presenting it ends the session.
    assert_problem(refresh(client, signed["refresh_token"]), 401)
    assert_problem(client.get("/auth/me", headers=bearer(again["access_token"])), 401)


# ------------------------------------------------------------------ no organization


def orphan(client: TestClient, database: TestDatabase) -> Actor:
    """A user whose only organization was deleted."""
    actor = register(client, "orphan")
    owner_sql(database, "delete from iam.organizations where id = %s", (actor.org_id,))
    return actor


def test_a_user_without_organization_logs_in_with_a_null_org_id(
    client: TestClient, database: TestDatabase
) -> None:
    actor = orphan(client, database)
    body = sign_in(client, actor.email)
    assert body["organization"] is None and body["role"] is None
    claims = jwt.decode(
        body["access_token"], TEST_SECRET, algorithms=["HS256"], audience="rls-iam-api"
    )
    assert claims["org_id"] is None and claims["roles"] == []
    # Asking for an organization they are not in is still 401.
    response = client.post(
        "/auth/login",
        json={"email": actor.email, "password": PASSWORD, "organization_id": actor.org_id},
    )
    assert_problem(response, 401)


def test_a_token_without_organization_serves_the_listed_endpoints(
    client: TestClient, database: TestDatabase
) -> None:
    actor = orphan(client, database)
    body = sign_in(client, actor.email)
    headers = bearer(body["access_token"])
    me = client.get("/auth/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json() == {
        "user": {"id": actor.user_id, "email": actor.email},
        "organization": None,
        "role": None,
    }
    assert client.get("/organizations", headers=headers).json()["items"] == []
    assert client.get("/auth/sessions", headers=headers).status_code == 200
    for method, path in (
        ("GET", "/projects"),
        ("POST", "/projects"),
        ("GET", "/members"),
        ("POST", "/invitations"),
        ("GET", "/invitations"),
        ("GET", f"/projects/{uuid.uuid4()}"),
        ("DELETE", f"/members/{actor.user_id}"),
    ):
        payload = {"name": "x"} if path == "/projects" and method == "POST" else None
        if path == "/invitations" and method == "POST":
            payload = {"email": "a@example.com", "role": "ORG_USER"}
        assert_problem(client.request(method, path, headers=headers, json=payload), 403)
    created = client.post("/organizations", json={"name": "Fresh start"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "ORG_ADMIN"
    switched = client.post(
        "/auth/switch-organization", json={"organization_id": created.json()["id"]}, headers=headers
    )
    assert switched.status_code == 200, switched.text
    assert (
        client.get("/projects", headers=bearer(switched.json()["access_token"])).status_code == 200
    )
    assert change_password(client, headers, PASSWORD).status_code == 204
    assert client.post("/auth/logout", headers=headers).status_code == 204


def test_a_removed_members_token_still_cannot_create_organizations(
    client: TestClient, org: Org, database: TestDatabase
) -> None:
    owner_sql(
        database,
        "delete from iam.organization_memberships where user_id = %s and organization_id = %s",
        (org.read_only.user_id, org.read_only.org_id),
    )
    response = client.post("/organizations", json={"name": "Nope"}, headers=org.read_only.headers)
    assert_problem(response, 403)
