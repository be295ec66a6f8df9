"""Status codes and bodies never reveal another tenant's data (README §5, §8)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import Org, assert_problem, make_org


@pytest.fixture(scope="module")
def org(client: TestClient) -> Org:
    return make_org(client, "leak-a", "Apollo")


@pytest.fixture(scope="module")
def other_org(client: TestClient) -> Org:
    return make_org(client, "leak-b", "Zeus")


# Words that would mean SQL, driver or constraint text reached the client.
INTERNALS = (
    "constraint",
    "unique",
    "violates",
    "duplicate key",
    "sqlstate",
    "psycopg",
    "iam.",
    "projects_",
    "organization_memberships",
    "traceback",
    "select ",
)


def public(body: dict[str, Any]) -> dict[str, Any]:
    """A problem body without its per-request id, for comparing two answers."""
    return {key: value for key, value in body.items() if key != "request_id"}


def assert_reveals_nothing(response: httpx.Response, other: Org, *secrets: str) -> None:
    text = response.text.lower()
    for secret in (other.admin.org_id, other.admin.user_id, other.project_id, *secrets):
        assert secret.lower() not in text, secret
    for word in INTERNALS:
        assert word not in text, word


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PATCH", {"name": "Mine now"}), ("DELETE", None)]
)
def test_foreign_project_answers_exactly_like_a_missing_one(
    client: TestClient, org: Org, other_org: Org, method: str, body: dict[str, str] | None
) -> None:
    foreign = client.request(
        method, f"/projects/{other_org.project_id}", json=body, headers=org.admin.headers
    )
    missing = client.request(
        method, f"/projects/{uuid.uuid4()}", json=body, headers=org.admin.headers
    )

    assert public(assert_problem(foreign, 404)) == public(assert_problem(missing, 404))
    assert_reveals_nothing(foreign, other_org, "Zeus")
    seen = client.get(f"/projects/{other_org.project_id}", headers=other_org.admin.headers).json()
    assert seen["name"] == "Zeus"


@pytest.mark.parametrize(("method", "body"), [("PATCH", {"role": "ORG_ADMIN"}), ("DELETE", None)])
def test_foreign_member_answers_exactly_like_a_missing_one(
    client: TestClient, org: Org, other_org: Org, method: str, body: dict[str, str] | None
) -> None:
    foreign = client.request(
        method, f"/members/{other_org.read_only.user_id}", json=body, headers=org.admin.headers
    )
    missing = client.request(
        method, f"/members/{uuid.uuid4()}", json=body, headers=org.admin.headers
    )
    assert public(assert_problem(foreign, 404)) == public(assert_problem(missing, 404))


def test_same_project_name_in_two_organizations_is_fine(
    client: TestClient, org: Org, other_org: Org
) -> None:
    name = f"Twin {uuid.uuid4().hex[:8]}"
    for tenant in (other_org, org):
        response = client.post("/projects", json={"name": name}, headers=tenant.admin.headers)
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("spelling", ["same", "upper", "padded"])
def test_project_name_clash_is_409_and_says_nothing_about_other_tenants(
    client: TestClient, org: Org, other_org: Org, spelling: str
) -> None:
    name = f"Clash{uuid.uuid4().hex[:8]}"
    # Both tenants have it; the clash is with org's own.
    twin = client.post("/projects", json={"name": name}, headers=other_org.admin.headers)
    assert twin.status_code == 201, twin.text
    mine = client.post("/projects", json={"name": name}, headers=org.admin.headers)
    assert mine.status_code == 201, mine.text
    attempt = {"same": name, "upper": name.upper(), "padded": f"  {name.lower()} "}[spelling]

    response = client.post("/projects", json={"name": attempt}, headers=org.user.headers)

    assert_problem(response, 409)
    assert_reveals_nothing(response, other_org, twin.json()["id"])
    assert mine.json()["id"] not in response.text


def test_renaming_onto_an_existing_name_is_409(
    client: TestClient, org: Org, other_org: Org
) -> None:
    hermes = f"Hermes {uuid.uuid4().hex[:8]}"
    second = client.post("/projects", json={"name": hermes}, headers=org.admin.headers).json()
    response = client.patch(
        f"/projects/{second['id']}", json={"name": "APOLLO"}, headers=org.admin.headers
    )
    assert_problem(response, 409)
    assert_reveals_nothing(response, other_org)
    assert (
        client.get(f"/projects/{second['id']}", headers=org.admin.headers).json()["name"] == hermes
    )


def test_organization_names_are_not_globally_unique(
    client: TestClient, org: Org, other_org: Org
) -> None:
    name = client.get("/auth/me", headers=other_org.admin.headers).json()["organization"]["name"]
    response = client.post("/organizations", json={"name": name}, headers=org.admin.headers)
    assert response.status_code == 201, response.text


def test_inviting_an_existing_member_is_409_without_details(
    client: TestClient, org: Org, other_org: Org
) -> None:
    response = client.post(
        "/invitations",
        json={"email": org.user.email, "role": "ORG_ADMIN"},
        headers=org.admin.headers,
    )
    assert_problem(response, 409)
    assert_reveals_nothing(response, other_org, org.user.email)
    roles = {
        item["user_id"]: item["role"]
        for item in client.get("/members", headers=org.admin.headers).json()["items"]
    }
    assert roles[org.user.user_id] == "ORG_USER"


def test_lists_never_include_foreign_rows(client: TestClient, org: Org, other_org: Org) -> None:
    for path in ("/projects", "/members", "/organizations"):
        response = client.get(f"{path}?limit=100", headers=org.admin.headers)
        assert response.status_code == 200
        assert_reveals_nothing(response, other_org, "Zeus")
