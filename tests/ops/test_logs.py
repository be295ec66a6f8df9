"""JSON logs of the real `rls-iam serve`: one access line per request, and no secrets anywhere.

A module fixture runs one server at LOG_LEVEL=info on a database of its own,
drives it through registration, logins (right and wrong password), tenant
requests, a validation error carrying a password, a bad bearer token and a
database error the API does not map (a test-only trigger), stops it, and
keeps its whole stdout. The tests then read that output as an operator's log
shipper would.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from service.http.app import create_app
from tests.support.api import PASSWORD, TEST_SECRET, make_settings, unique_email
from tests.support.logs import access_lines, parse_log
from tests.support.processes import ApiServer, server_env

if TYPE_CHECKING:
    # Imported for annotations only: pytest would try to collect a Test* class.
    from tests.support.database import TestDatabase

pytestmark = [pytest.mark.processes, pytest.mark.slow]

CLIENT_TIMEOUT = 15.0
WRONG_PASSWORD = "wrong-" + uuid.uuid4().hex
# Valid length, sent with an invalid email: the body is rejected with 422.
REJECTED_PASSWORD = "rejected-" + uuid.uuid4().hex
# Longer than the 128 characters allowed: pydantic's error input would echo it.
TOO_LONG_PASSWORD = "too-long-" + uuid.uuid4().hex * 4
BOGUS_TOKEN = "not-a-jwt-" + uuid.uuid4().hex
# The database error's message carries this, as a driver message may carry values.
DATABASE_SECRET = "db-secret-" + uuid.uuid4().hex
EXPLODING_NAME = "explode-" + uuid.uuid4().hex[:8]

# A database error no SQLSTATE mapping covers (class P0), raised only for the
# project name above, with the row's description in the message.
EXPLODE_TRIGGER = """
create function public.ops_test_explode() returns trigger language plpgsql as $$
begin
  raise exception 'ops test: %', new.description using errcode = 'P0001';
end $$;
create trigger ops_test_explode before insert on iam.projects
  for each row when (new.name like 'explode-%') execute function public.ops_test_explode();
"""

ACCESS_FIELDS = {"request_id", "method", "route", "status", "duration_ms", "user_id", "org_id"}


@dataclass
class Call:
    label: str
    response: httpx.Response
    user_id: str | None = None
    org_id: str | None = None

    @property
    def request_id(self) -> str:
        return self.response.headers["x-request-id"]


@dataclass
class Session:
    calls: dict[str, Call]
    log_text: str
    secrets: dict[str, str]

    @property
    def entries(self) -> list[dict[str, Any]]:
        return parse_log(self.log_text)

    def access_line(self, label: str) -> dict[str, Any]:
        request_id = self.calls[label].request_id
        lines = [e for e in access_lines(self.entries) if e.get("request_id") == request_id]
        assert len(lines) == 1, f"{label}: {len(lines)} access lines for {request_id}"
        return lines[0]


def drive(http: httpx.Client) -> tuple[dict[str, Call], dict[str, str]]:
    calls: dict[str, Call] = {}

    def call(label: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = http.request(method, path, **kwargs)
        calls[label] = Call(label, response)
        return response

    email = unique_email("logs")
    registered = call(
        "register",
        "POST",
        "/auth/register",
        json={"email": email, "password": PASSWORD, "organization_name": "Logs Org"},
        headers={"X-Request-ID": "ops-logs-register-1"},
    )
    assert registered.status_code == 201, registered.text
    body = registered.json()
    user_id, org_id = body["user"]["id"], body["organization"]["id"]
    token = body["access_token"]

    login = call("login", "POST", "/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    login_token = login.json()["access_token"]

    wrong = call(
        "wrong_password", "POST", "/auth/login", json={"email": email, "password": WRONG_PASSWORD}
    )
    assert wrong.status_code == 401, wrong.text

    auth = {"Authorization": f"Bearer {login_token}"}
    assert call("me", "GET", "/auth/me", headers=auth).status_code == 200
    created = call("create_project", "POST", "/projects", json={"name": "Logged"}, headers=auth)
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    assert call("get_project", "GET", f"/projects/{project_id}", headers=auth).status_code == 200
    assert call("list_projects", "GET", "/projects", headers=auth).status_code == 200
    for label in ("me", "create_project", "get_project", "list_projects"):
        calls[label].user_id, calls[label].org_id = user_id, org_id

    rejected = call(
        "rejected_body",
        "POST",
        "/auth/register",
        json={"email": "not-an-email", "password": REJECTED_PASSWORD, "organization_name": "X"},
    )
    assert rejected.status_code == 422, rejected.text
    too_long = call(
        "too_long_password",
        "POST",
        "/auth/login",
        json={"email": email, "password": TOO_LONG_PASSWORD},
    )
    assert too_long.status_code == 422, too_long.text

    bogus = call(
        "bogus_token", "GET", "/projects", headers={"Authorization": f"Bearer {BOGUS_TOKEN}"}
    )
    assert bogus.status_code == 401, bogus.text

    exploded = call(
        "database_error",
        "POST",
        "/projects",
        json={"name": EXPLODING_NAME, "description": DATABASE_SECRET},
        headers=auth,
    )
    assert exploded.status_code == 500, exploded.text
    calls["database_error"].user_id, calls["database_error"].org_id = user_id, org_id

    assert call("unmatched", "GET", f"/no-such-path/{uuid.uuid4()}").status_code == 404

    secrets = {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "rejected password": REJECTED_PASSWORD,
        "too-long password": TOO_LONG_PASSWORD,
        "register token": token,
        "login token": login_token,
        # The signature alone proves possession of the token.
        "register token signature": token.rsplit(".", 1)[1],
        "login token signature": login_token.rsplit(".", 1)[1],
        "authorization header": auth["Authorization"],
        "bogus bearer value": BOGUS_TOKEN,
        "JWT secret": TEST_SECRET,
        "database error message": DATABASE_SECRET,
    }
    return calls, secrets


@pytest.fixture(scope="module")
def session(ops_database: TestDatabase) -> Session:
    with psycopg.connect(ops_database.conninfo, autocommit=True) as conn:
        conn.execute(EXPLODE_TRIGGER)
    server = ApiServer(
        env=server_env(ops_database.conninfo, DATABASE_POOLER="none", LOG_LEVEL="info")
    )
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=CLIENT_TIMEOUT) as http:
            calls, secrets = drive(http)
    finally:
        # Stopping first: the shutdown lines are part of what must be JSON.
        server.stop(keep_log=True)
    log_text = server.log_path.read_text(errors="replace")
    shutil.rmtree(server.workdir, ignore_errors=True)
    return Session(calls=calls, log_text=log_text, secrets=secrets)


def test_every_log_line_is_a_json_object(session: Session) -> None:
    entries = session.entries
    # Start-up, one access line per request, shutdown: not an empty file.
    assert len(entries) >= len(session.calls) + 2
    for entry in entries:
        assert {"ts", "level", "logger", "msg", "request_id"} <= set(entry), entry


def test_each_request_has_exactly_one_access_line_with_every_field(session: Session) -> None:
    for label in session.calls:
        line = session.access_line(label)
        assert set(line) >= ACCESS_FIELDS, (label, line)
        assert line["status"] == session.calls[label].response.status_code, (label, line)
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0, line
    # Besides ours, only the readiness polls of ApiServer.start().
    others = [e for e in access_lines(session.entries) if e["route"] != "/healthz"]
    assert len(others) == len(session.calls)


def test_access_line_request_id_is_the_x_request_id_header(session: Session) -> None:
    # The client's sane id is kept; otherwise the server makes one up.
    assert session.calls["register"].request_id == "ops-logs-register-1"
    assert session.access_line("register")["request_id"] == "ops-logs-register-1"
    for label, call in session.calls.items():
        assert session.access_line(label)["request_id"] == call.request_id, label


@pytest.mark.parametrize(
    ("label", "method", "route"),
    [
        ("register", "POST", "/auth/register"),
        ("login", "POST", "/auth/login"),
        ("me", "GET", "/auth/me"),
        ("create_project", "POST", "/projects"),
        ("get_project", "GET", "/projects/{project_id}"),
        ("list_projects", "GET", "/projects"),
        ("unmatched", "GET", "unmatched"),
    ],
)
def test_access_line_names_the_route_template_not_the_path(
    session: Session, label: str, method: str, route: str
) -> None:
    line = session.access_line(label)
    assert (line["method"], line["route"]) == (method, route)


def test_authenticated_access_lines_name_the_user_and_organization(session: Session) -> None:
    for label in ("me", "create_project", "get_project", "list_projects", "database_error"):
        call = session.calls[label]
        line = session.access_line(label)
        assert (line["user_id"], line["org_id"]) == (call.user_id, call.org_id), label
        assert call.user_id is not None


def test_anonymous_and_rejected_requests_name_no_user(session: Session) -> None:
    for label in (
        "register",
        "login",
        "wrong_password",
        "rejected_body",
        "bogus_token",
        "unmatched",
    ):
        line = session.access_line(label)
        assert (line["user_id"], line["org_id"]) == (None, None), (label, line)


def test_no_log_line_contains_a_password_token_secret_or_authorization_value(
    session: Session,
) -> None:
    # The raw text, so that a line which is not JSON is searched as well.
    for what, value in session.secrets.items():
        assert value not in session.log_text, f"the log contains the {what}"


def test_unmapped_database_error_is_logged_by_type_with_its_request_id(session: Session) -> None:
    call = session.calls["database_error"]
    errors = [
        e
        for e in session.entries
        if e.get("request_id") == call.request_id and e.get("level") == "error"
    ]
    assert errors, "the 500 left no error line"
    assert any(e.get("sqlstate") == "P0001" and e.get("route") for e in errors), errors
    assert call.response.json()["request_id"] == call.request_id


def test_validation_error_lines_carry_no_field_values(session: Session) -> None:
    for label in ("rejected_body", "too_long_password"):
        request_id = session.calls[label].request_id
        for entry in session.entries:
            if entry.get("request_id") == request_id:
                assert "password" not in {k.lower() for k in entry}, entry


# ----------------------------------------------------------- in-process 500


@pytest.fixture
def isolated_root_logger() -> Iterator[None]:
    """create_app() points the root logger at stdout; put back what the session had."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_unhandled_exception_is_logged_by_type_never_by_message(
    database: TestDatabase, isolated_root_logger: None
) -> None:
    app = create_app(make_settings(database, log_level="info"))
    secret = "exception-secret-" + uuid.uuid4().hex

    @app.get("/ops-test/explode")
    async def explode() -> None:
        raise RuntimeError(f"password={secret}")

    # The app's own JSON handler, writing where the test can read it.
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    captured = io.StringIO()
    handler.setStream(captured)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/ops-test/explode", headers={"Authorization": f"Bearer {secret}x"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert secret not in response.text

    text = captured.getvalue()
    assert secret not in text
    entries = parse_log(text)
    request_id = response.headers["x-request-id"]
    mine = [e for e in entries if e["request_id"] == request_id]
    (error,) = [e for e in mine if e["level"] == "error"]
    assert error["error_type"] == "RuntimeError", mine
    assert (error["method"], error["route"]) == ("GET", "/ops-test/explode")
    assert error["sqlstate"] is None
    (access,) = [e for e in mine if e["logger"] == "rls_iam.access"]
    assert (access["route"], access["status"]) == ("/ops-test/explode", 500)
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
