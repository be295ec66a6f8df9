"""Bad input is 422 problem+json and writes nothing; protocol errors are problem+json too."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.api import PASSWORD, Org, assert_problem, make_org, owner_sql
from tests.support.database import TestDatabase


@pytest.fixture(scope="module")
def tenant(client: TestClient) -> Org:
    return make_org(client, "validation-admin", "Validation")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # may contain {project_id}, {user_id} and {org_id}
    body: Callable[[Org, str], dict[str, Any]]  # (tenant, marker) -> a valid body
    anonymous: bool = False

    def url(self, tenant: Org) -> str:
        return self.path.format(
            project_id=tenant.project_id,
            user_id=tenant.read_only.user_id,
            org_id=tenant.admin.org_id,
        )


def _register(_: Org, marker: str) -> dict[str, Any]:
    return {
        "email": f"{marker}@example.com",
        "password": PASSWORD + marker,
        "organization_name": f"Org {marker}",
    }


ENDPOINTS = {
    "register": Endpoint("POST", "/auth/register", _register, anonymous=True),
    "login": Endpoint(
        "POST",
        "/auth/login",
        lambda t, m: {
            "email": t.admin.email,
            "password": PASSWORD,
            "organization_id": t.admin.org_id,
        },
        anonymous=True,
    ),
    "switch": Endpoint(
        "POST", "/auth/switch-organization", lambda t, m: {"organization_id": t.admin.org_id}
    ),
    "create_organization": Endpoint("POST", "/organizations", lambda t, m: {"name": f"Org {m}"}),
    "invite": Endpoint(
        "POST", "/invitations", lambda t, m: {"email": f"{m}@example.com", "role": "ORG_USER"}
    ),
    "accept": Endpoint("POST", "/invitations/accept", lambda t, m: {"token": f"t{m}"}),
    "rename_organization": Endpoint(
        "PATCH", "/organizations/{org_id}", lambda t, m: {"name": f"Org {m}"}
    ),
    "change_member": Endpoint("PATCH", "/members/{user_id}", lambda t, m: {"role": "READ_ONLY"}),
    "create_project": Endpoint(
        "POST", "/projects", lambda t, m: {"name": f"P {m}", "description": f"D {m}"}
    ),
    "update_project": Endpoint(
        "PATCH", "/projects/{project_id}", lambda t, m: {"name": f"P {m}", "description": f"D {m}"}
    ),
}

# Every string field of every request body.
STRING_FIELDS = [
    ("register", "email"),
    ("register", "password"),
    ("register", "organization_name"),
    ("login", "email"),
    ("login", "password"),
    ("login", "organization_id"),
    ("switch", "organization_id"),
    ("create_organization", "name"),
    ("invite", "email"),
    ("invite", "role"),
    ("accept", "token"),
    ("rename_organization", "name"),
    ("change_member", "role"),
    ("create_project", "name"),
    ("create_project", "description"),
    ("update_project", "name"),
    ("update_project", "description"),
]


def _send(
    client: TestClient, tenant: Org, endpoint: Endpoint, body: dict[str, Any]
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if not endpoint.anonymous:
        headers |= tenant.admin.headers
    # json.dumps escapes lone surrogates as \\udXXX, the way a client would send them.
    return client.request(
        endpoint.method, endpoint.url(tenant), content=json.dumps(body).encode(), headers=headers
    )


def _traces(database: TestDatabase, marker: str) -> list[tuple[Any, ...]]:
    """Anything any table holds that contains marker."""
    like = f"%{marker}%"
    return owner_sql(
        database,
        "select 'user', email from iam.users where email like %(m)s"
        " union all select 'organization', name from iam.organizations where name like %(m)s"
        " union all select 'project', name from iam.projects"
        "   where name like %(m)s or description like %(m)s"
        " union all select 'invitation', email from iam.invitations where email like %(m)s",
        {"m": like},
    )


def _snapshot(client: TestClient, tenant: Org) -> tuple[Any, ...]:
    project = client.get(f"/projects/{tenant.project_id}", headers=tenant.admin.headers).json()
    members = client.get("/members?limit=100", headers=tenant.admin.headers).json()
    invitations = client.get("/invitations?limit=100", headers=tenant.admin.headers).json()
    organization = client.get(
        f"/organizations/{tenant.admin.org_id}", headers=tenant.admin.headers
    ).json()
    return project, members, invitations, organization


@pytest.mark.parametrize(("endpoint", "field"), STRING_FIELDS)
@pytest.mark.parametrize("bad", ["nul", "lone_surrogate"])
def test_unstorable_text_is_422_and_writes_nothing(
    client: TestClient, database: TestDatabase, tenant: Org, endpoint: str, field: str, bad: str
) -> None:
    marker = f"v{uuid.uuid4().hex[:12]}"
    spec = ENDPOINTS[endpoint]
    body = spec.body(tenant, marker)
    poison = "\x00" if bad == "nul" else "\ud800"
    value = str(body[field])
    # Inside the value, so that a stripped or truncated copy would still be caught.
    body[field] = value[:1] + poison + value[1:]
    before = _snapshot(client, tenant)

    response = _send(client, tenant, spec, body)

    problem = assert_problem(response, 422)
    assert any(error["loc"][-1] == field for error in problem["errors"]), problem
    assert _traces(database, marker) == []
    assert _snapshot(client, tenant) == before


OVERLONG = [
    ("register", "email", "a" * 250 + "@example.com"),
    ("register", "password", "p" * 129),
    ("register", "organization_name", "o" * 201),
    ("login", "email", "a" * 250 + "@example.com"),
    ("login", "password", "p" * 129),
    ("create_organization", "name", "o" * 201),
    ("invite", "email", "a" * 250 + "@example.com"),
    ("create_project", "name", "n" * 201),
    ("create_project", "description", "d" * 2001),
    ("update_project", "name", "n" * 201),
    ("update_project", "description", "d" * 2001),
]


@pytest.mark.parametrize(("endpoint", "field", "value"), OVERLONG)
def test_overlong_text_is_422_and_writes_nothing(
    client: TestClient,
    database: TestDatabase,
    tenant: Org,
    endpoint: str,
    field: str,
    value: str,
) -> None:
    marker = f"v{uuid.uuid4().hex[:12]}"
    spec = ENDPOINTS[endpoint]
    body = spec.body(tenant, marker)
    body[field] = value
    before = _snapshot(client, tenant)

    response = _send(client, tenant, spec, body)

    problem = assert_problem(response, 422)
    assert any(error["loc"][-1] == field for error in problem["errors"]), problem
    assert _traces(database, marker) == []
    assert _snapshot(client, tenant) == before


def test_longest_allowed_names_are_accepted(client: TestClient, tenant: Org) -> None:
    name = uuid.uuid4().hex + "n" * 168
    response = client.post(
        "/projects", json={"name": name, "description": "d" * 2000}, headers=tenant.admin.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


# pydantic checks min_length before strip_whitespace in service/http/schemas.py's Name,
# so "   " passes validation as "" and only the database's check constraint
# refuses it (23514): the 422 then has no errors[] naming the field.
BLANK_NAMES = [
    ("register", "organization_name"),
    ("create_organization", "name"),
    ("create_project", "name"),
    ("update_project", "name"),
]


@pytest.mark.parametrize(("endpoint", "field"), BLANK_NAMES)
@pytest.mark.parametrize(
    "blank",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
        pytest.param("\t\n", id="tab_newline"),
    ],
)
def test_blank_name_is_422_with_errors_and_writes_nothing(
    client: TestClient,
    database: TestDatabase,
    tenant: Org,
    endpoint: str,
    field: str,
    blank: str,
) -> None:
    marker = f"v{uuid.uuid4().hex[:12]}"
    spec = ENDPOINTS[endpoint]
    body = spec.body(tenant, marker) | {field: blank}
    before = _snapshot(client, tenant)

    response = _send(client, tenant, spec, body)

    problem = assert_problem(response, 422)
    assert any(error["loc"][-1] == field for error in problem["errors"]), problem
    assert _traces(database, marker) == []
    assert _snapshot(client, tenant) == before


def test_names_are_stripped(client: TestClient, tenant: Org) -> None:
    name = f"Padded {uuid.uuid4().hex[:8]}"
    response = client.post("/projects", json={"name": f"  {name}\t"}, headers=tenant.admin.headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_unknown_field_is_422(
    client: TestClient, database: TestDatabase, tenant: Org, endpoint: str
) -> None:
    marker = f"v{uuid.uuid4().hex[:12]}"
    spec = ENDPOINTS[endpoint]
    body = spec.body(tenant, marker) | {"is_admin": True}
    before = _snapshot(client, tenant)

    response = _send(client, tenant, spec, body)

    problem = assert_problem(response, 422)
    assert ["body", "is_admin"] in [error["loc"] for error in problem["errors"]], problem
    assert _traces(database, marker) == []
    assert _snapshot(client, tenant) == before


@pytest.mark.parametrize("field", ["created_by_user_id", "organization_id", "id", "created_at"])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_client_cannot_set_server_owned_project_fields(
    client: TestClient, tenant: Org, other_org: Org, field: str, method: str
) -> None:
    value = {
        "created_by_user_id": other_org.admin.user_id,
        "organization_id": other_org.admin.org_id,
        "id": str(uuid.uuid4()),
        "created_at": "2000-01-01T00:00:00Z",
    }[field]
    path = "/projects" if method == "POST" else f"/projects/{tenant.project_id}"
    before = _snapshot(client, tenant)
    response = client.request(
        method,
        path,
        json={"name": f"n-{uuid.uuid4().hex[:8]}", field: value},
        headers=tenant.user.headers,
    )
    problem = assert_problem(response, 422)
    assert ["body", field] in [error["loc"] for error in problem["errors"]]
    assert _snapshot(client, tenant) == before


def test_created_by_is_the_caller(client: TestClient, tenant: Org) -> None:
    response = client.post(
        "/projects", json={"name": f"mine-{uuid.uuid4().hex[:8]}"}, headers=tenant.user.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created_by_user_id"] == tenant.user.user_id
    assert body["organization_id"] == tenant.admin.org_id
    # An update by someone else does not change who created it.
    updated = client.patch(
        f"/projects/{body['id']}", json={"description": "x"}, headers=tenant.admin.headers
    )
    assert updated.json()["created_by_user_id"] == tenant.user.user_id


def test_bad_role_value_is_422(client: TestClient, tenant: Org) -> None:
    response = client.patch(
        f"/members/{tenant.read_only.user_id}",
        json={"role": "SUPERUSER"},
        headers=tenant.admin.headers,
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "@example.com", "a b@example.com"])
def test_bad_email_is_422(client: TestClient, email: str) -> None:
    response = client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "organization_name": "X"}
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("endpoint", ["register", "create_project", "invite"])
def test_missing_required_field_is_422(client: TestClient, tenant: Org, endpoint: str) -> None:
    spec = ENDPOINTS[endpoint]
    body = spec.body(tenant, "x")
    missing = next(iter(body))
    del body[missing]
    problem = assert_problem(_send(client, tenant, spec, body), 422)
    assert ["body", missing] in [error["loc"] for error in problem["errors"]]


# ------------------------------------------------------------------ bodies, not JSON objects


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "broken"', "application/json"),
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b'"name"', "application/json"),
        (b"null", "application/json"),
        (b'{"name": "\xff\xfe"}', "application/json"),
    ],
    ids=["truncated", "empty", "array", "string", "null", "invalid_utf8"],
)
def test_body_that_is_not_a_json_object_is_422(
    client: TestClient, tenant: Org, content: bytes, content_type: str
) -> None:
    response = client.post(
        "/projects",
        content=content,
        headers={"Content-Type": content_type} | tenant.admin.headers,
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_refused_and_writes_nothing(
    client: TestClient, database: TestDatabase, tenant: Org, content_type: str
) -> None:
    marker = f"v{uuid.uuid4().hex[:12]}"
    response = client.post(
        "/projects",
        content=json.dumps({"name": marker}).encode(),
        headers={"Content-Type": content_type} | tenant.admin.headers,
    )
    assert response.status_code in (415, 422), response.text
    assert_problem(response, response.status_code)
    assert _traces(database, marker) == []


def test_body_over_64_kib_is_413(client: TestClient, tenant: Org) -> None:
    response = client.post(
        "/projects",
        content=json.dumps({"name": "big", "description": "d" * 70_000}).encode(),
        headers={"Content-Type": "application/json"} | tenant.admin.headers,
    )
    assert_problem(response, 413)


# ------------------------------------------------------------------ query and path parameters

LISTS = ["/projects", "/members", "/organizations"]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "", "1.5", "99999999999999999999"])
@pytest.mark.parametrize("path", LISTS)
def test_invalid_limit_is_422(client: TestClient, tenant: Org, path: str, limit: str) -> None:
    response = client.get(f"{path}?limit={limit}", headers=tenant.admin.headers)
    problem = assert_problem(response, 422)
    assert ["query", "limit"] in [error["loc"] for error in problem["errors"]]


@pytest.mark.parametrize("limit", ["1", "100"])
@pytest.mark.parametrize("path", LISTS)
def test_limit_bounds_are_accepted(client: TestClient, tenant: Org, path: str, limit: str) -> None:
    response = client.get(f"{path}?limit={limit}", headers=tenant.admin.headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) <= int(limit)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


GARBAGE_CURSORS = {
    "word": "garbage",
    "punctuation": "!!!",
    "empty": "",
    "b64_no_separator": _b64("12345"),
    "b64_not_uuid": _b64("123:not-a-uuid"),
    "b64_not_number": _b64(f"abc:{uuid.uuid4()}"),
    "b64_negative": _b64(f"-5:{uuid.uuid4()}"),
    "b64_huge": _b64(f"{2**70}:{uuid.uuid4()}"),
    "b64_invalid_utf8": base64.urlsafe_b64encode(b"\xff\xfe:\xff").decode(),
    "nul": "%00",
    "sql": "1'%20or%20'1'='1",
    "overlong": "A" * 201,
}


@pytest.mark.parametrize("kind", list(GARBAGE_CURSORS))
@pytest.mark.parametrize("path", LISTS)
def test_garbage_cursor_is_422(client: TestClient, tenant: Org, path: str, kind: str) -> None:
    response = client.get(f"{path}?cursor={GARBAGE_CURSORS[kind]}", headers=tenant.admin.headers)
    problem = assert_problem(response, 422)
    assert ["query", "cursor"] in [error["loc"] for error in problem["errors"]]


@pytest.mark.parametrize("bad_id", ["abc", "1", "%00", "00000000-0000-0000-0000-00000000000g"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/projects/{}"),
        ("PATCH", "/projects/{}"),
        ("DELETE", "/projects/{}"),
        ("PATCH", "/members/{}"),
        ("DELETE", "/members/{}"),
    ],
)
def test_non_uuid_path_id_is_422(
    client: TestClient, tenant: Org, method: str, path: str, bad_id: str
) -> None:
    body = {"role": "ORG_USER"} if path.startswith("/members") else {"name": "x"}
    response = client.request(
        method,
        path.format(bad_id),
        json=body if method == "PATCH" else None,
        headers=tenant.admin.headers,
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"][0] == "path"


# ------------------------------------------------------------------ routing errors


@pytest.mark.parametrize("authenticated", [False, True])
def test_unknown_path_is_404_problem(client: TestClient, tenant: Org, authenticated: bool) -> None:
    headers = tenant.admin.headers if authenticated else {}
    response = client.get("/no/such/endpoint", headers=headers)
    assert_problem(response, 404)
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/projects"),
        ("PUT", "/projects/{id}"),
        ("GET", "/auth/login"),
        ("POST", "/healthz"),
    ],
)
def test_wrong_method_is_405_problem(
    client: TestClient, tenant: Org, method: str, path: str
) -> None:
    response = client.request(
        method, path.format(id=tenant.project_id), headers=tenant.admin.headers
    )
    assert_problem(response, 405)
    assert response.headers["allow"]


# ------------------------------------------------------------------ headers on every response


def test_sane_request_id_is_echoed(client: TestClient, tenant: Org) -> None:
    offered = "req-42_abc.DEF:7"
    ok = client.get("/projects", headers={"X-Request-ID": offered} | tenant.admin.headers)
    assert ok.headers["x-request-id"] == offered
    refused = client.get(
        f"/projects/{uuid.uuid4()}", headers={"X-Request-ID": offered} | tenant.admin.headers
    )
    assert assert_problem(refused, 404)["request_id"] == offered


@pytest.mark.parametrize(
    "offered", ["x" * 300, "has spaces", "", "semi;colon", "new\tline", "<script>"]
)
def test_insane_request_id_is_replaced(client: TestClient, offered: str) -> None:
    response = client.get("/no/such/endpoint", headers={"X-Request-ID": offered})
    issued = response.headers["x-request-id"]
    assert issued and issued != offered and " " not in issued and len(issued) <= 128
    assert assert_problem(response, 404)["request_id"] == issued


def test_request_ids_differ_between_requests(client: TestClient) -> None:
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_every_kind_of_response_carries_nosniff_and_a_request_id(
    client: TestClient, tenant: Org
) -> None:
    admin = tenant.admin.headers
    created = client.post("/projects", json={"name": f"hdr-{uuid.uuid4().hex[:8]}"}, headers=admin)
    responses = {
        "healthz": client.get("/healthz"),
        "openapi": client.get("/openapi.json"),
        "docs": client.get("/docs"),
        "list": client.get("/projects", headers=admin),
        "created": created,
        "deleted": client.delete(f"/projects/{created.json()['id']}", headers=admin),
        "login": client.post(
            "/auth/login", json={"email": tenant.admin.email, "password": PASSWORD}
        ),
        "unauthorized": client.get("/projects"),
        "forbidden": client.delete(
            f"/projects/{tenant.project_id}", headers=tenant.read_only.headers
        ),
        "not_found": client.get(f"/projects/{uuid.uuid4()}", headers=admin),
        "conflict": client.post("/projects", json={"name": "Validation"}, headers=admin),
        "unprocessable": client.post("/projects", json={}, headers=admin),
        "method": client.put("/projects", headers=admin),
        "too_large": client.post(
            "/projects", content=b"x" * 70_000, headers={"Content-Type": "application/json"} | admin
        ),
    }
    statuses = {name: response.status_code for name, response in responses.items()}
    assert statuses == {
        "healthz": 200,
        "openapi": 200,
        "docs": 200,
        "list": 200,
        "created": 201,
        "deleted": 204,
        "login": 200,
        "unauthorized": 401,
        "forbidden": 403,
        "not_found": 404,
        "conflict": 409,
        "unprocessable": 422,
        "method": 405,
        "too_large": 413,
    }
    for name, response in responses.items():
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["x-request-id"], name
