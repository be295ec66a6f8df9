"""The real app over the session's migrated database, and shortcuts to make tenants through it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.settings import Settings
from tests.support.database import TestDatabase, with_dbname

TEST_SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery staple"


def pooler_url() -> str | None:
    """The pooler's URL (any database name), when the app must go through one."""
    return os.environ.get("TEST_API_DATABASE_URL") or None


def api_database_url(database: TestDatabase) -> str:
    """The session database, or the same database through TEST_API_DATABASE_URL.

    That variable names a pooler such as PgBouncer (any database name: the
    session database's is put in). It routes the app, and only the app,
    through the pooler; fixtures keep their direct connection.
    """
    through = pooler_url()
    return with_dbname(through, database.name) if through else database.conninfo


def make_settings(database: TestDatabase, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": api_database_url(database),
        "database_pooler": os.environ.get("TEST_DATABASE_POOLER", "none"),
        "jwt_access_secret": TEST_SECRET,
        "database_pool_min_size": 1,
        "database_pool_max_size": 10,
        "log_level": "warning",
        # Every test client shares one address; rate limits get tests of their own.
        "rate_limit_ip_per_minute": 1_000_000,
        "rate_limit_failed_logins_per_email": 1_000_000,
        "organization_create_per_hour": 1_000_000,
        # Races here hold locks while requests queue behind them; the
        # deadline gets tests of its own (tests/resilience).
        "database_deadline_seconds": 30,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def app_settings(database: TestDatabase) -> Settings:
    return make_settings(database)


@pytest.fixture(scope="session")
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}@example.com"


@dataclass
class Actor:
    user_id: str
    email: str
    org_id: str
    token: str
    refresh_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def session_id(self) -> str:
        """The sid claim of the access token: the session it belongs to."""
        return str(jwt.decode(self.token, options={"verify_signature": False})["sid"])


def register(client: TestClient, label: str = "admin", org_name: str | None = None) -> Actor:
    email = unique_email(label)
    response = client.post(
        "/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "organization_name": org_name or f"Org {uuid.uuid4().hex[:6]}",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Actor(
        body["user"]["id"],
        email,
        body["organization"]["id"],
        body["access_token"],
        body["refresh_token"],
    )


def login(client: TestClient, email: str, org_id: str | None = None) -> str:
    payload: dict[str, Any] = {"email": email, "password": PASSWORD}
    if org_id is not None:
        payload["organization_id"] = org_id
    response = client.post("/auth/login", json=payload)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def invite(client: TestClient, admin: Actor, email: str, role: str) -> dict[str, Any]:
    """An invitation from admin's organization; its body, with the token shown once."""
    response = client.post(
        "/invitations", json={"email": email, "role": role}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def accept(client: TestClient, invitee: Actor, token: str) -> Actor:
    """invitee accepts; the Actor acts in the organization they joined."""
    response = client.post("/invitations/accept", json={"token": token}, headers=invitee.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return Actor(
        invitee.user_id,
        invitee.email,
        body["organization"]["id"],
        body["access_token"],
        body["refresh_token"],
    )


def add_member(client: TestClient, admin: Actor, role: str, label: str | None = None) -> Actor:
    """A new user (registered with an organization of their own), invited into admin's
    organization, who accepts."""
    newcomer = register(client, label or role.lower())
    invitation = invite(client, admin, newcomer.email, role)
    return accept(client, newcomer, invitation["token"])


@dataclass
class Org:
    admin: Actor
    user: Actor
    read_only: Actor
    project_id: str


def make_org(client: TestClient, label: str = "admin", project_name: str = "Apollo") -> Org:
    """A tenant: an ORG_ADMIN, an ORG_USER, a READ_ONLY member and one project."""
    admin = register(client, label)
    user = add_member(client, admin, "ORG_USER")
    read_only = add_member(client, admin, "READ_ONLY")
    response = client.post("/projects", json={"name": project_name}, headers=admin.headers)
    assert response.status_code == 201, response.text
    return Org(admin, user, read_only, response.json()["id"])


@pytest.fixture
def org(client: TestClient) -> Org:
    return make_org(client, "admin", "Apollo")


@pytest.fixture
def other_org(client: TestClient) -> Org:
    return make_org(client, "other-admin", "Zeus")


# ------------------------------------------------------------------ assertions

PROBLEM_FIELDS = {"type", "title", "status", "detail", "request_id"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 body with exactly the documented fields (README §8), naming this request's id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    expected = PROBLEM_FIELDS | ({"errors"} if status == 422 else set())
    assert set(body) == expected, body
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    if status == 401:
        assert response.headers["www-authenticate"].lower().startswith("bearer")
    if status == 422:
        assert body["errors"], body
        for error in body["errors"]:
            assert set(error) == {"loc", "msg"}, error
    return body


def owner_sql(database: TestDatabase, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run SQL as the migrating (super)user, outside any tenant context, and commit."""
    with psycopg.connect(database.conninfo, autocommit=True) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
