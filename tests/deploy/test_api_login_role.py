"""The API's login role: it owns nothing and may only become iam_anon and iam_authenticated.

`rls-iam db migrate` creates it (on the embedded server always, elsewhere
when RLS_IAM_API_PASSWORD is set) as the owner; the API connects as it.
"""

from __future__ import annotations

import stat
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from service.audit.cli import main as policies_main
from service.db import runner
from service.db.login_role import as_api_role, ensure_api_role, local_password
from service.http.app import create_app
from tests.support.api import make_settings, register
from tests.support.database import TestDatabase


@pytest.fixture
def api_role(database: TestDatabase) -> Iterator[tuple[str, str]]:
    """A login role made the way `db migrate` makes rls_iam_api, and its conninfo."""
    name = f"rls_iam_api_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    ensure_api_role(database.conninfo, password, name)
    try:
        yield name, as_api_role(database.conninfo, password, name)
    finally:
        # Its grants live in the session's database: drop them before the role.
        with psycopg.connect(database.conninfo, autocommit=True) as conn:
            conn.execute(f"drop owned by {name}")
            conn.execute(f"drop role if exists {name}")


def test_the_login_role_becomes_the_request_roles(api_role: tuple[str, str]) -> None:
    _, conninfo = api_role
    with psycopg.connect(conninfo) as conn:
        for role in ("iam_anon", "iam_authenticated"):
            conn.execute(f"set local role {role}")
            conn.execute("reset role")


def test_the_login_role_cannot_become_the_definer_or_skip_policies(
    api_role: tuple[str, str],
) -> None:
    _, conninfo = api_role
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("set role iam_definer")
        row = conn.execute(
            "select rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolinherit"
            " from pg_roles where rolname = current_user"
        ).fetchone()
        assert row == (False, False, False, False, False)
        owned = conn.execute(
            "select count(*) from pg_class where relowner = (select oid from pg_roles"
            " where rolname = current_user)"
        ).fetchone()
        assert owned == (0,)


def test_the_api_as_the_login_role_reads_the_caller_in_the_context_statement(
    database: TestDatabase, api_role: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default deployment's requests are two statements: the context statement
    (which reads the caller and checks the session) and the route's own."""
    verdicts = _RecordedVerdicts()
    monkeypatch.setattr(runner, "_reads_caller_in_context", verdicts)
    _, conninfo = api_role
    settings = make_settings(database, database_url=conninfo)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        actor = register(client, "login-role")
        created = client.post("/projects", json={"name": "Two"}, headers=actor.headers)
        assert created.status_code == 201, created.text
        listed = client.get("/projects", headers=actor.headers)
        assert [p["name"] for p in listed.json()["items"]] == ["Two"]
        assert client.post("/auth/logout", headers=actor.headers).status_code == 204
        assert client.get("/projects", headers=actor.headers).status_code == 401
    # One verdict per tenant request (authenticated ones included), each the
    # two-statement form.
    assert len(verdicts.answers) >= 4
    assert all(verdicts.answers), verdicts.answers


class _RecordedVerdicts(weakref.WeakKeyDictionary[runner.Conn, bool]):
    """The runner's per-connection verdicts, with the answer of every lookup kept."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[bool] = []

    def get(self, key: runner.Conn, default: bool = False) -> bool:  # type: ignore[override]
        answer = super().get(key, default)
        self.answers.append(bool(answer))
        return bool(answer)


def test_as_itself_the_login_role_reads_nothing(api_role: tuple[str, str]) -> None:
    _, conninfo = api_role
    with psycopg.connect(conninfo) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select count(*) from iam.users")


def test_creating_it_again_only_sets_its_password(
    database: TestDatabase, api_role: tuple[str, str]
) -> None:
    name, _ = api_role
    ensure_api_role(database.conninfo, "another-password-of-length", name)
    with psycopg.connect(database.conninfo) as conn:
        rows = conn.execute(
            "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid"
            " where m.member = (select oid from pg_roles where rolname = %s) order by 1",
            (name,),
        ).fetchall()
    assert rows == [("iam_anon",), ("iam_authenticated",)]


def test_policies_check_accepts_the_login_role(
    database: TestDatabase, api_role: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    name, _ = api_role
    code = policies_main(["check", "--database-url", database.conninfo, "--api-role", name])
    out = capsys.readouterr().out
    assert code == 0, out


def test_the_embedded_password_is_generated_once_and_private(tmp_path: Path) -> None:
    first = local_password(tmp_path / "data")
    assert len(first) >= 32
    assert local_password(tmp_path / "data") == first
    mode = stat.S_IMODE((tmp_path / "data" / "api_database_password").stat().st_mode)
    assert mode == 0o600
