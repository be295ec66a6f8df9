"""Problem types: one stable `type` per class, listed in docs/errors.md, sent where it happens."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import psycopg
from fastapi.testclient import TestClient

from service.http.errors import database_problem
from service.http.problem_types import CATALOGUE
from tests.support.api import PASSWORD, add_member, assert_problem, register, unique_email
from tests.support.database import TestDatabase

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def problem_type(response: httpx.Response, status: int) -> str:
    body = assert_problem(response, status)
    return str(body["type"])


def test_docs_list_every_problem_type_and_no_other() -> None:
    listed = dict(re.findall(r"^\| `(/problems/[a-z-]+)` \| (\d{3}) \|", DOCS.read_text(), re.M))
    declared = {kind.uri: str(kind.status) for kind in CATALOGUE.values()}
    assert listed == declared


def test_problem_types_are_relative_references_with_a_slug() -> None:
    for kind in CATALOGUE.values():
        assert re.fullmatch(r"/problems/[a-z]+(-[a-z]+)*", kind.uri), kind
        assert kind.title and kind.meaning and kind.example


def test_email_taken(client: TestClient) -> None:
    admin = register(client)
    response = client.post(
        "/auth/register",
        json={"email": admin.email.upper(), "password": PASSWORD, "organization_name": "Again"},
    )
    assert problem_type(response, 409) == "/problems/email-taken"


def test_name_taken(client: TestClient) -> None:
    admin = register(client)
    assert client.post("/projects", json={"name": "Twice"}, headers=admin.headers).is_success
    response = client.post("/projects", json={"name": "TWICE"}, headers=admin.headers)
    assert problem_type(response, 409) == "/problems/name-taken"
    other = client.post("/projects", json={"name": "Other"}, headers=admin.headers).json()
    renamed = client.patch(
        f"/projects/{other['id']}", json={"name": "twice"}, headers=admin.headers
    )
    assert problem_type(renamed, 409) == "/problems/name-taken"


def test_already_member(client: TestClient) -> None:
    admin = register(client)
    member = add_member(client, admin, "ORG_USER")
    response = client.post(
        "/invitations", json={"email": member.email, "role": "READ_ONLY"}, headers=admin.headers
    )
    assert problem_type(response, 409) == "/problems/already-member"


def test_invitation_pending_and_not_found(client: TestClient) -> None:
    admin = register(client)
    email = unique_email()
    first = client.post(
        "/invitations", json={"email": email, "role": "READ_ONLY"}, headers=admin.headers
    )
    assert first.status_code == 201
    again = client.post(
        "/invitations", json={"email": email, "role": "ORG_USER"}, headers=admin.headers
    )
    assert problem_type(again, 409) == "/problems/invitation-pending"
    stranger = register(client)
    wrong_email = client.post(
        "/invitations/accept", json={"token": first.json()["token"]}, headers=stranger.headers
    )
    assert problem_type(wrong_email, 404) == "/problems/invitation-not-found"
    unknown = client.post(
        "/invitations/accept", json={"token": "not-a-real-token"}, headers=stranger.headers
    )
    assert problem_type(unknown, 404) == "/problems/invitation-not-found"
    assert unknown.json()["detail"] == wrong_email.json()["detail"]


def test_last_admin(client: TestClient) -> None:
    admin = register(client)
    response = client.patch(
        f"/members/{admin.user_id}", json={"role": "ORG_USER"}, headers=admin.headers
    )
    assert problem_type(response, 409) == "/problems/last-admin"
    leave = client.delete(f"/members/{admin.user_id}", headers=admin.headers)
    assert problem_type(leave, 409) == "/problems/last-admin"


def test_invalid_credentials_is_not_the_token_problem(client: TestClient) -> None:
    response = client.post(
        "/auth/login", json={"email": unique_email(), "password": "wrong password"}
    )
    assert problem_type(response, 401) == "/problems/invalid-credentials"
    assert problem_type(client.get("/auth/me"), 401) == "/problems/unauthorized"
    bad = client.get("/auth/me", headers={"Authorization": "Bearer not.a.token"})
    assert problem_type(bad, 401) == "/problems/unauthorized"


def test_forbidden_not_found_and_not_a_member(client: TestClient) -> None:
    admin = register(client)
    reader = add_member(client, admin, "READ_ONLY")
    project = client.post("/projects", json={"name": "p"}, headers=admin.headers).json()
    denied = client.delete(f"/projects/{project['id']}", headers=reader.headers)
    assert problem_type(denied, 403) == "/problems/forbidden"
    missing = client.get(f"/projects/{uuid.uuid4()}", headers=admin.headers)
    assert problem_type(missing, 404) == "/problems/not-found"
    assert client.delete(f"/members/{reader.user_id}", headers=admin.headers).status_code == 204
    gone = client.get("/projects", headers=reader.headers)
    assert problem_type(gone, 403) == "/problems/not-a-member"


def test_validation_and_body_too_large(client: TestClient) -> None:
    admin = register(client)
    response = client.post("/projects", json={"name": ""}, headers=admin.headers)
    assert problem_type(response, 422) == "/problems/validation"
    big = client.post("/projects", json={"name": "x" * 70_000}, headers=admin.headers)
    assert big.status_code == 413
    assert big.json()["type"] == "/problems/body-too-large"


def test_plain_http_statuses_are_about_blank(client: TestClient) -> None:
    unknown = client.get("/no-such-path")
    assert unknown.status_code == 404 and unknown.json()["type"] == "about:blank"
    wrong_method = client.put("/projects")
    assert wrong_method.status_code == 405 and wrong_method.json()["type"] == "about:blank"
    assert wrong_method.headers["allow"] == "GET, HEAD, POST"


def test_titles_are_those_of_the_type(client: TestClient) -> None:
    admin = register(client)
    response = client.patch(
        f"/members/{admin.user_id}", json={"role": "READ_ONLY"}, headers=admin.headers
    )
    assert response.json()["title"] == CATALOGUE["last-admin"].title


def test_a_row_that_went_away_in_between_is_a_concurrent_change(database: TestDatabase) -> None:
    """A foreign key that fails (its row was deleted meanwhile) is a 409 to retry, not a 500."""
    with psycopg.connect(database.conninfo) as conn:
        try:
            conn.execute(
                "insert into iam.projects (organization_id, name, created_by_user_id)"
                " values (%s, 'orphan', %s)",
                (uuid.uuid4(), uuid.uuid4()),
            )
        except psycopg.errors.ForeignKeyViolation as error:
            problem = database_problem(error)
        else:
            raise AssertionError("a project of no organization was stored")
    assert (problem.status, problem.kind.slug) == (409, "concurrent-change")
