"""Health, readiness, OpenAPI and docs, and the API's behaviour when the database is away."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import jwt
import pytest
from fastapi.testclient import TestClient

from service import __version__
from service.http.app import create_app
from tests.support.api import PASSWORD, TEST_SECRET, assert_problem, make_settings, unique_email
from tests.support.database import TestDatabase, create_database, drop_database

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nope"


def test_healthz_is_200(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_readyz_is_200_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


def test_readyz_is_503_on_a_database_without_the_schema(
    database: TestDatabase, server_conninfo: str
) -> None:
    name = f"rls_iam_empty_{uuid.uuid4().hex[:8]}"
    conninfo = create_database(server_conninfo, name)
    try:
        settings = make_settings(database, database_url=conninfo, database_pool_max_size=2)
        with TestClient(create_app(settings), raise_server_exceptions=False) as empty:
            assert_problem(empty.get("/readyz"), 503)
            assert empty.get("/healthz").status_code == 200
    finally:
        drop_database(server_conninfo, name)


# ------------------------------------------------------------------ OpenAPI and docs


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, object]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    spec: dict[str, object] = response.json()
    return spec


TENANT_OPERATIONS = [
    ("get", "/auth/me"),
    ("post", "/auth/switch-organization"),
    ("get", "/organizations"),
    ("post", "/organizations"),
    ("get", "/members"),
    ("patch", "/members/{user_id}"),
    ("delete", "/members/{user_id}"),
    ("get", "/organizations/{organization_id}"),
    ("patch", "/organizations/{organization_id}"),
    ("delete", "/organizations/{organization_id}"),
    ("post", "/invitations"),
    ("get", "/invitations"),
    ("get", "/invitations/{invitation_id}"),
    ("delete", "/invitations/{invitation_id}"),
    ("post", "/invitations/accept"),
    ("get", "/projects"),
    ("post", "/projects"),
    ("get", "/projects/{project_id}"),
    ("patch", "/projects/{project_id}"),
    ("delete", "/projects/{project_id}"),
]


def test_openapi_declares_the_bearer_scheme(openapi: dict[str, object]) -> None:
    schemes = openapi["components"]["securitySchemes"]  # type: ignore[index]
    assert schemes["HTTPBearer"]["type"] == "http"
    assert schemes["HTTPBearer"]["scheme"].lower() == "bearer"
    assert schemes["HTTPBearer"]["bearerFormat"] == "JWT"


@pytest.mark.parametrize(("method", "path"), TENANT_OPERATIONS)
def test_openapi_documents_bearer_and_problem_responses(
    openapi: dict[str, object], method: str, path: str
) -> None:
    operation = openapi["paths"][path][method]  # type: ignore[index]
    assert {"HTTPBearer": []} in operation["security"]
    for status in ("401", "422", "503"):
        content = operation["responses"][status]["content"]
        assert "application/problem+json" in content, (status, content)


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
def test_openapi_documents_public_auth_endpoints_without_security(
    openapi: dict[str, object], path: str
) -> None:
    operation = openapi["paths"][path]["post"]  # type: ignore[index]
    assert not operation.get("security")
    assert "application/problem+json" in operation["responses"]["422"]["content"]


def test_openapi_problem_schema_has_the_contract_fields(openapi: dict[str, object]) -> None:
    schema = openapi["components"]["schemas"]["ProblemOut"]  # type: ignore[index]
    assert {"type", "title", "status", "detail", "request_id", "errors"} <= set(
        schema["properties"]
    )


def test_docs_serve_html(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text.lower()
    assert "/openapi.json" in response.text


# ------------------------------------------------------------------ database unreachable


@pytest.fixture(scope="module")
def offline(database: TestDatabase) -> Iterator[TestClient]:
    settings = make_settings(database, database_url=UNREACHABLE, database_pool_timeout_seconds=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as offline_client:
        yield offline_client


def _valid_token() -> dict[str, str]:
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "org_id": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "roles": ["ORG_ADMIN"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "iss": "rls-iam",
        "aud": "rls-iam-api",
        "jti": uuid.uuid4().hex,
    }
    return {"Authorization": f"Bearer {jwt.encode(claims, TEST_SECRET, algorithm='HS256')}"}


@pytest.mark.parametrize(
    ("method", "path", "body", "authenticated"),
    [
        ("GET", "/projects", None, True),
        ("POST", "/projects", {"name": "x"}, True),
        ("GET", "/auth/me", None, True),
        ("GET", "/organizations", None, True),
        ("POST", "/auth/login", {"email": "a@example.com", "password": PASSWORD}, False),
        (
            "POST",
            "/auth/register",
            {"email": unique_email("offline"), "password": PASSWORD, "organization_name": "Off"},
            False,
        ),
    ],
    ids=["list_projects", "create_project", "me", "organizations", "login", "register"],
)
def test_unreachable_database_is_a_quick_503(
    offline: TestClient, method: str, path: str, body: object, authenticated: bool
) -> None:
    started = time.monotonic()
    response = offline.request(
        method, path, json=body, headers=_valid_token() if authenticated else {}
    )
    elapsed = time.monotonic() - started

    problem = assert_problem(response, 503)
    assert elapsed < 3.5, elapsed
    text = response.text.lower()
    for leak in ("127.0.0.1", "nope", "psycopg", "connection", "traceback", "pool"):
        assert leak not in text, (leak, problem)


def test_unreachable_database_keeps_healthz_200_and_readyz_503(offline: TestClient) -> None:
    assert offline.get("/healthz").status_code == 200
    started = time.monotonic()
    assert_problem(offline.get("/readyz"), 503)
    assert time.monotonic() - started < 3.5


def test_bad_token_is_still_401_without_a_database(offline: TestClient) -> None:
    assert_problem(offline.get("/projects", headers={"Authorization": "Bearer nope"}), 401)
