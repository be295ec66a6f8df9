"""Registration, login and switching organization (README §5 and §8)."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import (
    PASSWORD,
    Org,
    add_member,
    assert_problem,
    make_org,
    owner_sql,
    register,
    unique_email,
)
from tests.support.database import TestDatabase


@pytest.fixture(scope="module")
def shared(client: TestClient) -> Org:
    """A tenant for the tests that only read."""
    return make_org(client, "auth-a", "Apollo")


@pytest.fixture(scope="module")
def shared_other(client: TestClient) -> Org:
    return make_org(client, "auth-b", "Zeus")


TOKEN_FIELDS = {
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_expires_in",
    "organization",
    "role",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ register


def test_register_creates_user_organization_and_admin_membership(
    client: TestClient, database: TestDatabase
) -> None:
    email = unique_email("reg")
    response = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "organization_name": "  Acme  "},
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == TOKEN_FIELDS | {"user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["role"] == "ORG_ADMIN"
    assert set(body["user"]) == {"id", "email"} and body["user"]["email"] == email
    assert body["organization"] == {"id": body["organization"]["id"], "name": "Acme"}
    rows = owner_sql(
        database,
        "select m.role::text from iam.organization_memberships as m"
        " where m.user_id = %s and m.organization_id = %s",
        (body["user"]["id"], body["organization"]["id"]),
    )
    assert rows == [("ORG_ADMIN",)]
    me = client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["role"] == "ORG_ADMIN"


def test_register_stores_email_trimmed_and_lower_case(client: TestClient) -> None:
    local = f"MiXeD-{uuid.uuid4().hex[:8]}"
    response = client.post(
        "/auth/register",
        json={
            "email": f"  {local}@Example.COM ",
            "password": PASSWORD,
            "organization_name": "Case",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == f"{local.lower()}@example.com"
    # Login compares case-insensitively.
    again = client.post(
        "/auth/login", json={"email": f"{local.upper()}@EXAMPLE.com", "password": PASSWORD}
    )
    assert again.status_code == 200, again.text


def test_register_with_taken_email_is_409_in_any_case(
    client: TestClient, database: TestDatabase
) -> None:
    first = register(client, "taken")
    orgs_before = owner_sql(database, "select count(*) from iam.organizations")[0][0]
    response = client.post(
        "/auth/register",
        json={
            "email": first.email.upper(),
            "password": PASSWORD,
            "organization_name": "Second",
        },
    )
    body = assert_problem(response, 409)
    assert "users_email" not in str(body) and "constraint" not in str(body).lower()
    # Nothing of the refused registration was kept: one transaction.
    assert owner_sql(database, "select count(*) from iam.organizations")[0][0] == orgs_before


@pytest.mark.parametrize(("length", "status"), [(11, 422), (12, 201), (128, 201), (129, 422)])
def test_register_password_length_is_12_to_128(
    client: TestClient, length: int, status: int
) -> None:
    response = client.post(
        "/auth/register",
        json={"email": unique_email("pw"), "password": "p" * length, "organization_name": "Pw"},
    )
    if status == 201:
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 422)


def test_register_ignores_a_bearer_token(client: TestClient, shared: Org) -> None:
    response = client.post(
        "/auth/register",
        json={"email": unique_email("tok"), "password": PASSWORD, "organization_name": "Mine"},
        headers=shared.admin.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["organization"]["id"] != shared.admin.org_id


# ------------------------------------------------------------------ login


def test_login_without_organization_picks_the_one_joined_first(
    client: TestClient, org: Org
) -> None:
    # org.user registered (their own organization) before joining org; then
    # they create one more. Login still lands in the first.
    home = client.post("/auth/login", json={"email": org.user.email, "password": PASSWORD})
    assert home.status_code == 200, home.text
    home_org = home.json()["organization"]["id"]
    assert home_org != org.admin.org_id
    assert home.json()["role"] == "ORG_ADMIN"
    created = client.post(
        "/organizations", json={"name": "Later"}, headers=bearer(home.json()["access_token"])
    )
    assert created.status_code == 201, created.text

    response = client.post("/auth/login", json={"email": org.user.email, "password": PASSWORD})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == TOKEN_FIELDS
    assert body["organization"]["id"] == home_org
    assert response.headers["cache-control"] == "no-store"


def test_login_with_organization_of_a_member_gives_that_organization(
    client: TestClient, shared: Org
) -> None:
    response = client.post(
        "/auth/login",
        json={
            "email": shared.read_only.email,
            "password": PASSWORD,
            "organization_id": shared.admin.org_id,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == TOKEN_FIELDS
    assert body["token_type"] == "Bearer"
    assert body["role"] == "READ_ONLY"
    assert body["organization"]["id"] == shared.admin.org_id
    me = client.get("/auth/me", headers=bearer(body["access_token"])).json()
    assert me["organization"] == body["organization"]
    assert me["role"] == "READ_ONLY"


def _bad_login_cases(org: Org, other_org: Org) -> dict[str, dict[str, Any]]:
    return {
        "unknown_email": {"email": unique_email("ghost"), "password": PASSWORD},
        "wrong_password": {"email": org.user.email, "password": PASSWORD + "!"},
        "foreign_organization": {
            "email": org.user.email,
            "password": PASSWORD,
            "organization_id": other_org.admin.org_id,
        },
        "missing_organization": {
            "email": org.user.email,
            "password": PASSWORD,
            "organization_id": str(uuid.uuid4()),
        },
        "wrong_password_and_foreign_organization": {
            "email": org.user.email,
            "password": PASSWORD + "!",
            "organization_id": other_org.admin.org_id,
        },
    }


def test_failed_logins_give_one_and_the_same_401(
    client: TestClient, database: TestDatabase, org: Org, other_org: Org
) -> None:
    bodies = {}
    for name, payload in _bad_login_cases(org, other_org).items():
        response = client.post("/auth/login", json=payload)
        body = assert_problem(response, 401)
        assert response.headers["cache-control"] == "no-store"
        bodies[name] = {key: value for key, value in body.items() if key != "request_id"}
    owner_sql(
        database, "update iam.users set is_active = false where id = %s", (org.read_only.user_id,)
    )
    inactive = client.post("/auth/login", json={"email": org.read_only.email, "password": PASSWORD})
    body = assert_problem(inactive, 401)
    bodies["inactive_user"] = {key: value for key, value in body.items() if key != "request_id"}

    assert len({str(sorted(body.items())) for body in bodies.values()}) == 1, bodies


def test_removed_member_cannot_log_in_to_the_organization_they_left(
    client: TestClient, org: Org
) -> None:
    leaver = add_member(client, org.admin, "ORG_USER", "leaver")
    assert client.delete(f"/members/{leaver.user_id}", headers=org.admin.headers).status_code == 204
    response = client.post(
        "/auth/login",
        json={"email": leaver.email, "password": PASSWORD, "organization_id": org.admin.org_id},
    )
    assert_problem(response, 401)
    # Their own organization is still theirs.
    assert (
        client.post("/auth/login", json={"email": leaver.email, "password": PASSWORD}).status_code
        == 200
    )


def _login_seconds(client: TestClient, payload: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = client.post("/auth/login", json=payload)
    elapsed = time.perf_counter() - started
    assert response.status_code == 401, response.text
    return elapsed


def test_unknown_email_takes_about_as_long_as_wrong_password(
    client: TestClient, shared: Org
) -> None:
    """Both verify one argon2 hash, so response time does not tell which emails exist."""
    unknown = {"email": unique_email("ghost"), "password": PASSWORD}
    wrong = {"email": shared.admin.email, "password": PASSWORD + "!"}
    _login_seconds(client, unknown)  # warm up
    # Interleaved, so that whatever else loads the machine weighs on both alike.
    samples: dict[str, list[float]] = {"unknown": [], "wrong": []}
    for _ in range(9):
        samples["unknown"].append(_login_seconds(client, unknown))
        samples["wrong"].append(_login_seconds(client, wrong))
    unknown_median = statistics.median(samples["unknown"])
    wrong_median = statistics.median(samples["wrong"])

    ratio = max(unknown_median, wrong_median) / min(unknown_median, wrong_median)
    assert ratio < 2.0, (unknown_median, wrong_median)
    # Both really hashed: an argon2id verify at OWASP parameters is not free.
    assert min(unknown_median, wrong_median) > 0.005


# ------------------------------------------------------------------ switching organization


def test_switch_organization_gives_a_token_for_the_new_organization(
    client: TestClient, org: Org
) -> None:
    # org.user starts in org; their own organization is the other one they belong to.
    orgs = client.get("/organizations", headers=org.user.headers).json()["items"]
    home = next(item for item in orgs if item["id"] != org.admin.org_id)

    response = client.post(
        "/auth/switch-organization", json={"organization_id": home["id"]}, headers=org.user.headers
    )

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == TOKEN_FIELDS
    assert body["organization"] == {"id": home["id"], "name": home["name"]}
    assert body["role"] == "ORG_ADMIN"
    assert body["token_type"] == "Bearer"
    switched = bearer(body["access_token"])
    projects = client.get("/projects", headers=switched).json()["items"]
    assert org.project_id not in {item["id"] for item in projects}
    created = client.post("/projects", json={"name": "Home project"}, headers=switched)
    assert created.status_code == 201, created.text
    assert created.json()["organization_id"] == home["id"]
    # The old token still speaks for the old organization.
    assert (
        client.get("/auth/me", headers=org.user.headers).json()["organization"]["id"]
        == org.admin.org_id
    )


def test_switch_to_an_existing_organization_one_is_not_in_is_404(
    client: TestClient, shared: Org, shared_other: Org
) -> None:
    existing = client.post(
        "/auth/switch-organization",
        json={"organization_id": shared_other.admin.org_id},
        headers=shared.admin.headers,
    )
    missing = client.post(
        "/auth/switch-organization",
        json={"organization_id": str(uuid.uuid4())},
        headers=shared.admin.headers,
    )
    existing_body = assert_problem(existing, 404)
    missing_body = assert_problem(missing, 404)
    # Same answer whether the organization exists or not.
    assert {k: v for k, v in existing_body.items() if k != "request_id"} == {
        k: v for k, v in missing_body.items() if k != "request_id"
    }


# ------------------------------------------------------------------ headers


def test_auth_responses_are_never_cached(client: TestClient, shared: Org) -> None:
    responses = [
        client.get("/auth/me", headers=shared.admin.headers),
        client.get("/auth/me"),
        client.post("/auth/login", json={"email": "x"}),
        client.post("/auth/register", json={}),
    ]
    for response in responses:
        assert response.headers["cache-control"] == "no-store", response.request.url
