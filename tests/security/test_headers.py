"""Security headers: Cache-Control: no-store on every /auth/* response,
X-Content-Type-Options: nosniff on every response, whatever its status."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import PASSWORD, Org, add_member, make_settings, unique_email
from tests.support.attacks import app_client, bearer, unique_ip, wait_for_fresh_window
from tests.support.database import TestDatabase

Call = Callable[[], httpx.Response]


def register_json(email: str | None = None) -> dict[str, str]:
    return {
        "email": email or unique_email("hdr"),
        "password": PASSWORD,
        "organization_name": "Headers",
    }


def auth_calls(client: TestClient, org: Org) -> list[tuple[str, int, Call]]:
    """(label, expected status, call): every /auth/* endpoint, in success and in error."""
    removed = add_member(client, org.admin, "ORG_USER", "leaver")
    assert (
        client.delete(f"/members/{removed.user_id}", headers=org.admin.headers).status_code == 204
    )
    return [
        ("register 201", 201, lambda: client.post("/auth/register", json=register_json())),
        (
            "register 409",
            409,
            lambda: client.post("/auth/register", json=register_json(org.admin.email)),
        ),
        ("register 422", 422, lambda: client.post("/auth/register", json={"email": "nope"})),
        (
            "login 200",
            200,
            lambda: client.post(
                "/auth/login", json={"email": org.admin.email, "password": PASSWORD}
            ),
        ),
        (
            "login 401",
            401,
            lambda: client.post(
                "/auth/login", json={"email": org.admin.email, "password": "wrong!"}
            ),
        ),
        ("login 422", 422, lambda: client.post("/auth/login", json={})),
        ("login 405", 405, lambda: client.get("/auth/login")),
        ("me 200", 200, lambda: client.get("/auth/me", headers=org.read_only.headers)),
        ("me 401", 401, lambda: client.get("/auth/me")),
        ("me 401 bad token", 401, lambda: client.get("/auth/me", headers=bearer("x.y.z"))),
        ("me 403 removed", 403, lambda: client.get("/auth/me", headers=removed.headers)),
        (
            "switch 200",
            200,
            lambda: client.post(
                "/auth/switch-organization",
                json={"organization_id": org.admin.org_id},
                headers=org.admin.headers,
            ),
        ),
        (
            "switch 404",
            404,
            lambda: client.post(
                "/auth/switch-organization",
                json={"organization_id": str(uuid.uuid4())},
                headers=org.admin.headers,
            ),
        ),
        (
            "switch 422",
            422,
            lambda: client.post(
                "/auth/switch-organization",
                json={"organization_id": "x"},
                headers=org.admin.headers,
            ),
        ),
        ("unknown /auth path 404", 404, lambda: client.get("/auth/does-not-exist")),
    ]


def other_calls(client: TestClient, org: Org) -> list[tuple[str, int, Call]]:
    admin, read_only = org.admin.headers, org.read_only.headers
    return [
        ("healthz 200", 200, lambda: client.get("/healthz")),
        ("readyz 200", 200, lambda: client.get("/readyz")),
        ("openapi 200", 200, lambda: client.get("/openapi.json")),
        ("docs 200", 200, lambda: client.get("/docs")),
        ("projects 200", 200, lambda: client.get("/projects", headers=read_only)),
        (
            "projects 201",
            201,
            lambda: client.post("/projects", json={"name": uuid.uuid4().hex}, headers=admin),
        ),
        ("projects 401", 401, lambda: client.get("/projects")),
        (
            "project 403",
            403,
            lambda: client.delete(f"/projects/{org.project_id}", headers=read_only),
        ),
        ("project 404", 404, lambda: client.get(f"/projects/{uuid.uuid4()}", headers=admin)),
        (
            "projects 409",
            409,
            lambda: client.post("/projects", json={"name": "apollo"}, headers=admin),
        ),
        ("projects 422", 422, lambda: client.get("/projects?limit=0", headers=admin)),
        ("projects 405", 405, lambda: client.put("/projects", headers=admin)),
        (
            "projects 413",
            413,
            lambda: client.post(
                "/projects",
                content=b"x" * 200_000,
                headers={**admin, "Content-Type": "application/json"},
            ),
        ),
        (
            "project 204",
            204,
            lambda: client.delete(
                "/projects/"
                + client.post("/projects", json={"name": uuid.uuid4().hex}, headers=admin).json()[
                    "id"
                ],
                headers=admin,
            ),
        ),
        ("members 200", 200, lambda: client.get("/members", headers=admin)),
        (
            "members 409 last admin",
            409,
            lambda: client.delete(f"/members/{org.admin.user_id}", headers=admin),
        ),
        ("unknown path 404", 404, lambda: client.get("/nope")),
    ]


def run(calls: list[tuple[str, int, Call]]) -> list[tuple[str, httpx.Response]]:
    answered = []
    for label, expected, call in calls:
        response = call()
        assert response.status_code == expected, (label, response.status_code, response.text[:200])
        answered.append((label, response))
    return answered


def test_every_auth_response_is_no_store_and_nosniff(client: TestClient, org: Org) -> None:
    answered = run(auth_calls(client, org))
    for label, response in answered:
        assert response.headers.get("cache-control") == "no-store", label
        assert response.headers.get("x-content-type-options") == "nosniff", label
    print(f"\n[headers] /auth/*: {len(answered)} responses, all no-store and nosniff")


def test_every_other_response_is_nosniff(client: TestClient, org: Org) -> None:
    answered = run(other_calls(client, org))
    for label, response in answered:
        assert response.headers.get("x-content-type-options") == "nosniff", label
        assert response.headers.get("x-request-id"), label
    statuses = sorted({response.status_code for _, response in answered})
    print(f"\n[headers] other: {len(answered)} responses, statuses {statuses}, all nosniff")


def test_a_too_large_auth_request_is_no_store(client: TestClient) -> None:
    big = json.dumps({"email": "x" * 100_000}).encode()
    for path in ("/auth/register", "/auth/login", "/auth/switch-organization"):
        response = client.post(path, content=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.headers.get("x-content-type-options") == "nosniff"
        assert response.headers.get("cache-control") == "no-store", path


def test_throttled_auth_responses_are_no_store_and_nosniff(database: TestDatabase) -> None:
    settings = make_settings(database, rate_limit_ip_per_minute=1)
    wait_for_fresh_window(60)
    with app_client(settings, peer_header=True) as limited:
        ip = unique_ip()
        responses = [
            limited.post("/auth/register", json=register_json(), headers={"X-Test-Peer": ip})
            for _ in range(3)
        ]
    assert [response.status_code for response in responses] == [201, 429, 429]
    for response in responses:
        assert response.headers.get("cache-control") == "no-store"
        assert response.headers.get("x-content-type-options") == "nosniff"


@pytest.fixture(scope="module")
def database_down(database: TestDatabase) -> Iterator[TestClient]:
    """An app whose database does not answer (nothing listens on port 1)."""
    settings = make_settings(
        database,
        database_url="postgresql://nobody@127.0.0.1:1/nothing",
        database_pool_timeout_seconds=0.3,
        database_connect_timeout_seconds=1,
    )
    with app_client(settings) as down:
        yield down


def test_database_outage_responses_are_503_with_the_headers(
    database_down: TestClient, org: Org
) -> None:
    calls = [
        (
            "/auth/login",
            lambda: database_down.post(
                "/auth/login", json={"email": org.admin.email, "password": PASSWORD}
            ),
        ),
        ("/auth/register", lambda: database_down.post("/auth/register", json=register_json())),
        ("/auth/me", lambda: database_down.get("/auth/me", headers=org.admin.headers)),
        ("/projects", lambda: database_down.get("/projects", headers=org.admin.headers)),
        ("/readyz", lambda: database_down.get("/readyz")),
    ]
    for path, call in calls:
        response = call()
        assert response.status_code == 503, (path, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers.get("x-content-type-options") == "nosniff", path
        if path.startswith("/auth"):
            assert response.headers.get("cache-control") == "no-store", path
    assert database_down.get("/healthz").status_code == 200
    print(f"\n[headers] database down: {len(calls)} x 503, all nosniff, /auth/* no-store")


def test_a_405_lists_every_method_of_the_resource_in_allow(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    concrete = {"/members/{user_id}": f"/members/{uuid.uuid4()}"}
    concrete["/projects/{project_id}"] = f"/projects/{uuid.uuid4()}"
    wrong = []
    for path, item in spec["paths"].items():
        documented = {method.upper() for method in item}
        response = client.request("OPTIONS", concrete.get(path, path))
        assert response.status_code == 405
        assert response.headers.get("x-content-type-options") == "nosniff"
        allowed = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
        if not documented <= allowed:
            wrong.append(f"{path}: Allow {sorted(allowed)}, documented {sorted(documented)}")
    assert not wrong, wrong
