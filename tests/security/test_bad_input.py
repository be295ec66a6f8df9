"""Bad input gets a 4xx problem, never a 5xx, and writes nothing."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import PASSWORD, Org, owner_sql, unique_email
from tests.support.attacks import owner_counts
from tests.support.database import TestDatabase

# Text that must never reach a client, whatever the input.
INTERNALS = ("Traceback", "psycopg", "sqlstate", "constraint", "iam.", "select ", 'File "')


@dataclass
class Tally:
    """Counts the bad requests of one test and checks every answer the same way."""

    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def check(self, response: httpx.Response, expected: int | None = None) -> None:
        self.sent += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        label = f"{response.request.method} {str(response.request.url)[:120]}"
        assert 400 <= response.status_code < 500, (label, response.status_code, response.text[:300])
        if expected is not None:
            assert response.status_code == expected, (
                label,
                response.status_code,
                response.text[:300],
            )
        assert response.headers["content-type"] == "application/problem+json", label
        body = response.json()
        assert body["status"] == response.status_code
        assert {"type", "title", "detail", "request_id"} <= body.keys()
        lowered = response.text.lower()
        for secret in INTERNALS:
            assert secret.lower() not in lowered, (label, secret, response.text[:300])

    def report(self, name: str) -> None:
        statuses = dict(sorted(self.statuses.items()))
        print(f"\n[bad input] {name}: {self.sent} requests, statuses {statuses}")


@pytest.fixture
def unchanged(database: TestDatabase, org: Org) -> Iterator[None]:
    """Nothing any bad request sent in the test was written (counted once org exists)."""
    before = owner_counts(database)
    yield
    assert owner_counts(database) == before


def raw(
    client: TestClient,
    method: str,
    path: str,
    content: bytes | Iterable[bytes],
    headers: dict[str, str] | None = None,
    content_type: str | None = "application/json",
) -> httpx.Response:
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    return client.request(method, path, content=content, headers=sent)


def writes(org: Org) -> list[tuple[str, str, dict[str, str]]]:
    """Every endpoint with a body, each with a caller allowed to use it."""
    admin = org.admin.headers
    return [
        ("POST", "/auth/register", {}),
        ("POST", "/auth/login", {}),
        ("POST", "/auth/switch-organization", admin),
        ("POST", "/organizations", admin),
        ("POST", "/invitations", admin),
        ("POST", "/invitations/accept", admin),
        ("PATCH", f"/members/{org.user.user_id}", admin),
        ("PATCH", f"/organizations/{org.admin.org_id}", admin),
        ("POST", "/projects", admin),
        ("PATCH", f"/projects/{org.project_id}", admin),
    ]


def one_megabyte_in_chunks() -> Iterator[bytes]:
    yield b'{"name": "'
    for _ in range(64):
        yield b"x" * 16384
    yield b'"}'


@pytest.mark.usefixtures("unchanged")
def test_a_one_megabyte_body_gets_413(client: TestClient, org: Org) -> None:
    tally = Tally()
    big = json.dumps({"name": "x" * (1024 * 1024)}).encode()
    for method, path, headers in writes(org):
        tally.check(raw(client, method, path, big, headers), 413)
    tally.report("1 MB bodies with Content-Length")


@pytest.mark.usefixtures("unchanged")
def test_a_one_megabyte_chunked_body_is_refused(client: TestClient, org: Org) -> None:
    """Without Content-Length (chunked), the limit applies to what arrives: still a 4xx."""
    tally = Tally()
    for method, path, headers in writes(org):
        tally.check(raw(client, method, path, one_megabyte_in_chunks(), headers))
    tally.report("1 MB chunked bodies")


@pytest.mark.usefixtures("unchanged")
def test_a_one_megabyte_chunked_body_gets_413(client: TestClient, org: Org) -> None:
    tally = Tally()
    for method, path, headers in writes(org):
        tally.check(raw(client, method, path, one_megabyte_in_chunks(), headers), 413)


def nested(depth: int) -> list[bytes]:
    return [
        b"[" * depth + b"]" * depth,
        b'{"a":' * depth + b"1" + b"}" * depth,
        b'{"name": ' + b"[" * depth + b"]" * depth + b"}",
    ]


@pytest.mark.usefixtures("unchanged")
def test_deeply_nested_json_gets_4xx(client: TestClient, org: Org) -> None:
    tally = Tally()
    for method, path, headers in writes(org):
        for depth in (1_000, 10_000):
            for body in nested(depth):
                tally.check(raw(client, method, path, body, headers))
    tally.report("deeply nested JSON")


WRONG_CONTENT_TYPES = [
    ("text/plain", None),
    ("text/plain;charset=utf-8", None),
    ("application/x-www-form-urlencoded", b"name=Form&description=x"),
    (
        "multipart/form-data; boundary=XyZ",
        b'--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\nForm\r\n--XyZ--\r\n',
    ),
    ("application/xml", b"<project><name>Xml</name></project>"),
    ("application/octet-stream", None),
    (None, None),
]


@pytest.mark.usefixtures("unchanged")
def test_a_wrong_content_type_gets_4xx(client: TestClient, org: Org) -> None:
    """A simple (CSRF-able) content type never writes, even around a valid JSON body."""
    tally = Tally()
    valid = {
        "/auth/register": {
            "email": unique_email("ct"),
            "password": PASSWORD,
            "organization_name": "CT",
        },
        "/auth/login": {"email": org.admin.email, "password": PASSWORD},
        "/auth/switch-organization": {"organization_id": org.admin.org_id},
        "/organizations": {"name": "Content type"},
        "/invitations": {"email": unique_email("ct-invitee"), "role": "READ_ONLY"},
        "/invitations/accept": {"token": "T" * 43},
        "/projects": {"name": "Content type " + uuid.uuid4().hex},
    }
    for method, path, headers in writes(org):
        body = valid.get(path, {"role": "READ_ONLY"} if "/members/" in path else {"name": "CT2"})
        for content_type, content in WRONG_CONTENT_TYPES:
            tally.check(
                raw(
                    client,
                    method,
                    path,
                    content or json.dumps(body).encode(),
                    headers,
                    content_type,
                )
            )
    tally.report("wrong content types")


INVALID_UTF8 = [
    b'{"name": "\xff\xfe\xfd"}',
    b'{"name": "\xc3\x28"}',
    b'{"name": "\xc0\xaf overlong slash"}',
    b'{"name": "\xed\xa0\x80 encoded surrogate"}',
    b'{"name": "truncated \xe2\x82"}',
    b'{"name": "\\ud800 lone surrogate escape"}',
    b'{"name": "\\udfff"}',
]


@pytest.mark.usefixtures("unchanged")
def test_invalid_utf8_gets_4xx(client: TestClient, org: Org) -> None:
    tally = Tally()
    for method, path, headers in writes(org):
        for body in INVALID_UTF8:
            for field_name in ("name", "email", "password", "organization_name", "description"):
                tally.check(
                    raw(
                        client,
                        method,
                        path,
                        body.replace(b'"name"', f'"{field_name}"'.encode()),
                        headers,
                    )
                )
    tally.report("invalid UTF-8")


def test_nul_bytes_get_422(client: TestClient, org: Org, database: TestDatabase) -> None:
    before = owner_counts(database)
    tally = Tally()
    nul = "a\u0000b"
    admin = org.admin.headers
    cases: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        (
            "POST",
            "/auth/register",
            {"email": unique_email("nul"), "password": PASSWORD, "organization_name": nul},
            {},
        ),
        (
            "POST",
            "/auth/register",
            {"email": unique_email("nul"), "password": PASSWORD + nul, "organization_name": "N"},
            {},
        ),
        (
            "POST",
            "/auth/register",
            {"email": f"a{nul}@example.com", "password": PASSWORD, "organization_name": "N"},
            {},
        ),
        ("POST", "/auth/login", {"email": org.admin.email, "password": PASSWORD + nul}, {}),
        ("POST", "/auth/login", {"email": org.admin.email + nul, "password": PASSWORD}, {}),
        ("POST", "/organizations", {"name": nul}, admin),
        ("POST", "/invitations", {"email": org.user.email + nul, "role": "READ_ONLY"}, admin),
        ("POST", "/invitations/accept", {"token": "T" * 20 + nul}, admin),
        ("PATCH", f"/organizations/{org.admin.org_id}", {"name": nul}, admin),
        ("POST", "/projects", {"name": nul}, admin),
        ("POST", "/projects", {"name": "nul description", "description": nul}, admin),
        ("PATCH", f"/projects/{org.project_id}", {"name": nul}, admin),
        ("PATCH", f"/projects/{org.project_id}", {"description": nul}, admin),
    ]
    for method, path, body, headers in cases:
        tally.check(client.request(method, path, json=body, headers=headers), 422)
    # A raw NUL byte inside a JSON string is not JSON.
    tally.check(raw(client, "POST", "/projects", b'{"name": "a\x00b"}', admin), 422)
    for path in ("/projects", "/members", "/organizations", "/invitations"):
        tally.check(client.get(path, params={"cursor": nul}, headers=admin), 422)
    tally.check(client.get("/projects/%00", headers=admin), 422)
    tally.report("NUL bytes")
    assert owner_counts(database) == before
    assert owner_sql(
        database, "select name, description from iam.projects where id = %s", (org.project_id,)
    ) == [("Apollo", None)]


def test_overlong_strings_get_422(client: TestClient, org: Org, database: TestDatabase) -> None:
    before = owner_counts(database)
    tally = Tally()
    admin = org.admin.headers
    long_email = "a" * 250 + "@example.com"
    cases: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        (
            "POST",
            "/auth/register",
            {"email": long_email, "password": PASSWORD, "organization_name": "L"},
            {},
        ),
        (
            "POST",
            "/auth/register",
            {"email": unique_email("long"), "password": "p" * 129, "organization_name": "L"},
            {},
        ),
        (
            "POST",
            "/auth/register",
            {"email": unique_email("long"), "password": "short", "organization_name": "L"},
            {},
        ),
        (
            "POST",
            "/auth/register",
            {"email": unique_email("long"), "password": PASSWORD, "organization_name": "o" * 201},
            {},
        ),
        ("POST", "/auth/login", {"email": org.admin.email, "password": "p" * 129}, {}),
        ("POST", "/auth/login", {"email": long_email, "password": PASSWORD}, {}),
        ("POST", "/organizations", {"name": "o" * 201}, admin),
        ("POST", "/organizations", {"name": "o" * 60_000}, admin),
        ("POST", "/invitations", {"email": long_email, "role": "READ_ONLY"}, admin),
        ("POST", "/invitations/accept", {"token": "T" * 257}, admin),
        ("PATCH", f"/organizations/{org.admin.org_id}", {"name": "o" * 201}, admin),
        ("POST", "/projects", {"name": "p" * 201}, admin),
        ("POST", "/projects", {"name": "ok", "description": "d" * 2001}, admin),
        ("PATCH", f"/projects/{org.project_id}", {"name": "p" * 201}, admin),
        ("PATCH", f"/projects/{org.project_id}", {"description": "d" * 2001}, admin),
        # Mass assignment: fields the client does not own are unknown fields.
        ("POST", "/projects", {"name": "mass", "organization_id": str(uuid.uuid4())}, admin),
        ("POST", "/projects", {"name": "mass", "created_by_user_id": str(uuid.uuid4())}, admin),
        ("PATCH", f"/projects/{org.project_id}", {"organization_id": str(uuid.uuid4())}, admin),
        (
            "PATCH",
            f"/members/{org.user.user_id}",
            {"role": "ORG_ADMIN", "user_id": str(uuid.uuid4())},
            admin,
        ),
        (
            "POST",
            "/auth/register",
            {
                "email": unique_email("mass"),
                "password": PASSWORD,
                "organization_name": "M",
                "role": "ORG_ADMIN",
            },
            {},
        ),
        # Names made only of white space are empty once trimmed.
        ("POST", "/projects", {"name": " \t\n "}, admin),
        ("POST", "/organizations", {"name": "   "}, admin),
    ]
    for method, path, body, headers in cases:
        tally.check(client.request(method, path, json=body, headers=headers), 422)
    tally.report("overlong strings and unknown fields")
    assert owner_counts(database) == before
    assert owner_sql(
        database, "select name, description from iam.projects where id = %s", (org.project_id,)
    ) == [("Apollo", None)]


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


BAD_LIMITS = [str(10**30), "-1", "0", "101", "1e3", "abc", "", "1.5", "9" * 5000, "0x10", "NaN"]
BAD_CURSORS = [
    "A" * 10_240,
    b64("99999999999999999999999:not-uuid"),
    b64(f"99999999999999999999999:{uuid.uuid4()}"),
    b64(f"{2**62}:{uuid.uuid4()}"),
    b64(f"-1:{uuid.uuid4()}"),
    b64(f"1e9:{uuid.uuid4()}"),
    b64(f"12:{uuid.uuid4()}'; drop table iam.projects; --"),
    b64("no colon at all"),
    b64(":"),
    base64.urlsafe_b64encode(b"\xff\xfe:" + str(uuid.uuid4()).encode()).decode(),
    "!!!!",
    "====",
    "",
    "é",
]


@pytest.mark.usefixtures("unchanged")
def test_huge_or_garbage_limit_and_cursor_get_4xx(client: TestClient, org: Org) -> None:
    tally = Tally()
    for path in ("/projects", "/members", "/organizations"):
        for limit in BAD_LIMITS:
            tally.check(client.get(path, params={"limit": limit}, headers=org.admin.headers), 422)
        for cursor in BAD_CURSORS:
            tally.check(client.get(path, params={"cursor": cursor}, headers=org.admin.headers), 422)
    tally.report("limits and cursors")


@pytest.mark.usefixtures("unchanged")
def test_malformed_paths_and_bodies_get_4xx(client: TestClient, org: Org) -> None:
    tally = Tally()
    admin = org.admin.headers
    bad_paths = [
        ("GET", "/projects/not-a-uuid"),
        ("PATCH", "/projects/" + "9" * 10_000),
        ("DELETE", "/projects/%c0%ae%c0%ae"),
        ("PATCH", "/members/' or 1=1 --"),
        ("DELETE", "/members/not-a-uuid"),
    ]
    for method, path in bad_paths:
        tally.check(client.request(method, path, headers=admin, json={"role": "ORG_USER"}))
    for body in (
        b"",
        b"null",
        b"[]",
        b'"text"',
        b"1",
        b"{",
        b'{"name": 1e999999}',
        b"{'name': 'x'}",
        b'{"name": NaN}',
    ):
        for method, path, headers in writes(org):
            tally.check(raw(client, method, path, body, headers))
    tally.report("malformed paths and bodies")
