"""The API's login role: it owns nothing and may only become iam_anon and iam_authenticated.

`rls-iam db migrate` creates it (on the embedded server always, elsewhere
when RLS_IAM_API_PASSWORD is set) as the owner; the API connects as it.
"""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from service.audit.cli import main as policies_main
from service.db.login_role import as_api_role, ensure_api_role, local_password
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
        with psycopg.connect(database.server_conninfo, autocommit=True) as conn:
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
