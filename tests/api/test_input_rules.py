"""Text input, PATCH semantics and cursors (docs/api.md)."""

from __future__ import annotations

import base64
import time

import pytest
from fastapi.testclient import TestClient

from service.http.app import create_app
from tests.support.api import (
    PASSWORD,
    TEST_SECRET,
    Actor,
    add_member,
    assert_problem,
    make_settings,
    owner_sql,
    register,
)
from tests.support.database import TestDatabase

# ------------------------------------------------------------------ emails


def register_email(client: TestClient, email: str) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "organization_name": "Text rules"},
    )
    return response.status_code, response.json()


@pytest.mark.parametrize(
    "email",
    [
        "ctl\u0008@ex\u0001ample.com",
        "zero\u200bwidth@example.com",
        "rtl\u202eoverride@example.com",
        "ansi\u001b[31m@example.com",
        "bom\ufeff@example.com",
        "p\u0430ypal@example.com",  # a Cyrillic a among Latin letters
        "user@ex\u0430mple.com",
        "no-at-sign.example.com",
        "two@@example.com",
        "trailing-dot@example.com.",
    ],
)
def test_bad_emails_are_refused_with_422_naming_the_field(client: TestClient, email: str) -> None:
    response = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "organization_name": "Text rules"},
    )
    body = assert_problem(response, 422)
    assert body["type"] == "/problems/validation"
    assert any(error["loc"] == ["body", "email"] for error in body["errors"]), body


def test_emails_are_normalized_nfkc_and_case_folded(client: TestClient) -> None:
    local = f"fw{int(time.time() * 1e6)}"
    # The fullwidth forms (U+FF21 and on) of the local part, the at sign and EXAMPLE.
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in f"{local.upper()}@EXAMPLE") + ".com"
    status, body = register_email(client, fullwidth)
    assert status == 201, body
    assert body["user"]["email"] == f"{local}@example.com"  # type: ignore[index]
    again, clash = register_email(client, f"{local.upper()}@Example.COM")
    assert again == 409 and clash["type"] == "/problems/email-taken"
    login = client.post("/auth/login", json={"email": fullwidth, "password": PASSWORD})
    assert login.status_code == 200, login.text


def test_international_addresses_in_one_script_are_accepted(client: TestClient) -> None:
    status, body = register_email(client, f"Дмитрий{int(time.time() * 1e6)}@пример.рф")
    assert status == 201, body
    assert str(body["user"]["email"]).startswith("дмитрий")  # type: ignore[index]


# ------------------------------------------------------------------ names and descriptions


@pytest.mark.parametrize(
    "name",
    ["bell\u0007", "tab\tname", "line\nbreak", "rtl\u202ename", "iso\u2066late", "zw\u200bsp"],
)
def test_names_with_controls_are_refused(client: TestClient, name: str) -> None:
    admin = register(client)
    project = client.post("/projects", json={"name": name}, headers=admin.headers)
    assert_problem(project, 422)
    organization = client.post("/organizations", json={"name": name}, headers=admin.headers)
    assert_problem(organization, 422)
    registered = client.post(
        "/auth/register",
        json={
            "email": f"n{time.time_ns()}@example.com",
            "password": PASSWORD,
            "organization_name": name,
        },
    )
    assert_problem(registered, 422)


def test_descriptions_keep_line_breaks_and_tabs_but_not_other_controls(client: TestClient) -> None:
    admin = register(client)
    kept = client.post(
        "/projects",
        json={"name": "multi", "description": "line one\nline two\r\n\tindented"},
        headers=admin.headers,
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["description"] == "line one\nline two\r\n\tindented"
    for bad in ("bell\u0007", "rtl\u202e", "esc\u001b[0m", "del\u007f"):
        refused = client.post(
            "/projects", json={"name": f"d-{bad!r}", "description": bad}, headers=admin.headers
        )
        body = assert_problem(refused, 422)
        assert any(error["loc"][:2] == ["body", "description"] for error in body["errors"])


def test_joiners_that_scripts_and_emoji_need_are_kept(client: TestClient) -> None:
    admin = register(client)
    family = "team \U0001f468\u200d\U0001f469\u200d\U0001f467"
    response = client.post("/projects", json={"name": family}, headers=admin.headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == family


# ------------------------------------------------------------------ PATCH


def _project(client: TestClient, admin: Actor) -> dict[str, object]:
    response = client.post(
        "/projects",
        json={"name": f"patch-{time.time_ns()}", "description": "d"},
        headers=admin.headers,
    )
    assert response.status_code == 201
    return dict(response.json())


def test_patch_null_name_is_422_and_changes_nothing(client: TestClient) -> None:
    admin = register(client)
    project = _project(client, admin)
    response = client.patch(
        f"/projects/{project['id']}", json={"name": None}, headers=admin.headers
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "name"]
    assert client.get(f"/projects/{project['id']}", headers=admin.headers).json() == project


def test_patch_null_description_clears_it(client: TestClient) -> None:
    admin = register(client)
    project = _project(client, admin)
    response = client.patch(
        f"/projects/{project['id']}", json={"description": None}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json()["description"] is None
    assert response.json()["updated_at"] > project["updated_at"]


@pytest.mark.parametrize("same", [{}, "same values"])
def test_patch_that_changes_nothing_keeps_updated_at(client: TestClient, same: object) -> None:
    admin = register(client)
    project = _project(client, admin)
    body = {} if same == {} else {"name": project["name"], "description": project["description"]}
    response = client.patch(f"/projects/{project['id']}", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json() == project


def test_patch_that_changes_nothing_is_still_refused_to_read_only(client: TestClient) -> None:
    admin = register(client)
    reader = add_member(client, admin, "READ_ONLY")
    project = _project(client, admin)
    response = client.patch(f"/projects/{project['id']}", json={}, headers=reader.headers)
    assert_problem(response, 403)


def test_plain_sql_update_without_change_keeps_updated_at(
    client: TestClient, database: TestDatabase
) -> None:
    admin = register(client)
    project = _project(client, admin)
    owner_sql(database, "update iam.projects set name = name where id = %s", (project["id"],))
    assert client.get(f"/projects/{project['id']}", headers=admin.headers).json() == project
    owner_sql(database, "update iam.projects set name = 'moved' where id = %s", (project["id"],))
    moved = client.get(f"/projects/{project['id']}", headers=admin.headers).json()
    assert moved["updated_at"] > project["updated_at"]


# ------------------------------------------------------------------ cursors


def _cursor_of(client: TestClient, admin: Actor, path: str) -> str:
    response = client.get(path, params={"limit": 1}, headers=admin.headers)
    assert response.status_code == 200, response.text
    cursor = response.json()["next_cursor"]
    assert cursor, response.json()
    return str(cursor)


@pytest.fixture
def admin_with_lists(client: TestClient) -> Actor:
    admin = register(client)
    for i in range(2):
        client.post("/projects", json={"name": f"c{i}"}, headers=admin.headers)
        client.post("/organizations", json={"name": f"o{i}"}, headers=admin.headers)
    for role in ("ORG_USER", "READ_ONLY"):
        add_member(client, admin, role)
    return admin


def test_a_cursor_is_refused_by_another_list(client: TestClient, admin_with_lists: Actor) -> None:
    admin = admin_with_lists
    cursors = {
        path: _cursor_of(client, admin, path)
        for path in ("/projects", "/members", "/organizations")
    }
    for issued_by, cursor in cursors.items():
        assert (
            client.get(issued_by, params={"cursor": cursor}, headers=admin.headers).status_code
            == 200
        )
        for other in cursors:
            if other == issued_by:
                continue
            response = client.get(other, params={"cursor": cursor}, headers=admin.headers)
            body = assert_problem(response, 422)
            assert body["type"] == "/problems/invalid-cursor"
            assert "this endpoint" in body["detail"]
            assert body["errors"] == [
                {"loc": ["query", "cursor"], "msg": "not a cursor issued by this endpoint"}
            ]


def test_an_altered_cursor_is_refused(client: TestClient, admin_with_lists: Actor) -> None:
    admin = admin_with_lists
    cursor = _cursor_of(client, admin, "/projects")
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[7] ^= 1  # one bit of the position
    altered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for bad in (altered, cursor[:-2], "abc", "MTIzOjQ1Ng", cursor + "A"):
        response = client.get("/projects", params={"cursor": bad}, headers=admin.headers)
        assert assert_problem(response, 422)["type"] == "/problems/invalid-cursor", bad


def test_a_cursor_signed_with_the_previous_secret_is_accepted(
    client: TestClient, database: TestDatabase, admin_with_lists: Actor
) -> None:
    cursor = _cursor_of(client, admin_with_lists, "/projects")
    rotated = make_settings(
        database, jwt_access_secret="rotated-" + "y" * 40, jwt_access_secret_previous=TEST_SECRET
    )
    with TestClient(create_app(rotated), raise_server_exceptions=False) as after:
        response = after.get(
            "/projects", params={"cursor": cursor}, headers=admin_with_lists.headers
        )
        assert response.status_code == 200, response.text
