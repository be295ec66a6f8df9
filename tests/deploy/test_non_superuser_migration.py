"""Migrations run by a role that is not a superuser but has CREATEROLE, as Supabase's `postgres` is.

Each test makes such a role, gives it a fresh database of its own (created by
the superuser: the role has no CREATEDB), runs the same two steps as
`rls-iam db migrate` connected as that role, and checks what a DBA and the
API rely on: RLS forced on every table, the same policies as a superuser's
migration, and register + login through the definer functions, as a
dedicated API login role that holds nothing but membership in the runtime
roles. The roles iam_* are cluster-wide: on the session's server the
`database` fixture has already created them as the superuser (the case of a
server where another role migrated first); a new Supabase project, where the
migrating role creates them itself, runs on a private embedded cluster.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from service.db.embedded import EmbeddedPostgres
from service.db.migrate import RUNTIME_ROLES, apply_policies, run_dbmate
from service.db.runner import (
    MAY_READ_CALLER_IN_CONTEXT,
    READ_CALLER,
    SESSION_ENDED,
    SET_ANON_CONTEXT,
    SET_TENANT_CONTEXT,
    SET_TENANT_CONTEXT_ONLY,
    tenant_context,
)
from service.db.target import conninfo_to_url
from service.security.passwords import Passwords
from tests.support.database import drop_database

if TYPE_CHECKING:
    from tests.support.database import TestDatabase


class RoleGrantRefused(Exception):
    """The roles migration could not grant the existing iam_* roles to the migrating role."""


@dataclass(frozen=True)
class Login:
    name: str
    password: str
    conninfo: str


@dataclass(frozen=True)
class Owner:
    """A CREATEROLE, non-superuser login that owns a fresh, empty database."""

    login: Login
    dbname: str
    server_conninfo: str

    def new_login(self, prefix: str) -> Login:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        return _login(self.server_conninfo, self.dbname, name)


def _login(server_conninfo: str, dbname: str, name: str) -> Login:
    password = secrets.token_urlsafe(18)
    conninfo = make_conninfo(server_conninfo, dbname=dbname, user=name, password=password)
    return Login(name=name, password=password, conninfo=conninfo)


def _server_major(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return conn.info.server_version // 10000


@contextmanager
def createrole_owner(server_conninfo: str) -> Iterator[Owner]:
    """A fresh CREATEROLE, non-superuser login and an empty database it owns; dropped after."""
    suffix = uuid.uuid4().hex[:10]
    dbname = f"rls_iam_nosu_{suffix}"
    login = _login(server_conninfo, dbname, f"rls_iam_owner_{suffix}")
    with psycopg.connect(server_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "create role {} login createrole nosuperuser nocreatedb nobypassrls password {}"
            ).format(sql.Identifier(login.name), sql.Literal(login.password))
        )
        conn.execute(
            sql.SQL("create database {} owner {}").format(
                sql.Identifier(dbname), sql.Identifier(login.name)
            )
        )
    try:
        yield Owner(login=login, dbname=dbname, server_conninfo=server_conninfo)
    finally:
        drop_database(server_conninfo, dbname)
        _drop_roles_made_for(server_conninfo, login.name)


@pytest.fixture
def owner(database: TestDatabase) -> Iterator[Owner]:
    """On the session's server, where the superuser already created the iam_* roles."""
    with createrole_owner(database.server_conninfo) as made:
        yield made


def _drop_roles_made_for(server_conninfo: str, owner_name: str) -> None:
    """Drop the owner and every login role of this test (named after its suffix)."""
    suffix = owner_name.rsplit("_", 1)[-1]
    with psycopg.connect(server_conninfo, autocommit=True) as conn:
        names = [
            str(row[0])
            for row in conn.execute(
                "select rolname from pg_catalog.pg_roles where rolname like %s and rolname <> %s",
                (f"%{suffix}%", owner_name),
            ).fetchall()
        ]
        for name in [*names, owner_name]:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def migrate_as(owner: Owner, capfd: pytest.CaptureFixture[str]) -> None:
    """`rls-iam db migrate`'s two steps, connected as the owner; raises if dbmate fails."""
    code = run_dbmate(conninfo_to_url(owner.login.conninfo), "migrate")
    output = capfd.readouterr()
    if code != 0:
        text = output.out + output.err
        refused = re.search(r"cannot grant itself role (iam_\w+).*?with admin option", text, re.S)
        if refused:
            raise RoleGrantRefused(refused.group(0))
        pytest.fail(f"dbmate migrate as {owner.login.name} exited {code}:\n{text}")
    apply_policies(owner.login.conninfo)


def make_api_login(owner: Owner) -> Login:
    """docs/supabase.md's recipe, run as the migrating role: a login that only may SET ROLE."""
    api = owner.new_login(f"rls_iam_api_{owner.login.name.rsplit('_', 1)[-1]}")
    with psycopg.connect(owner.login.conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create role {} login noinherit password {}").format(
                sql.Identifier(api.name), sql.Literal(api.password)
            )
        )
        conn.execute(
            sql.SQL("grant iam_anon, iam_authenticated to {}").format(sql.Identifier(api.name))
        )
    return api


def policies(conninfo: str) -> set[tuple[str, str, str, str, str]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select tablename, policyname, cmd, permissive, array_to_string(roles, ',')"
            " from pg_catalog.pg_policies where schemaname = 'iam'"
        ).fetchall()
    return {tuple(str(v) for v in row) for row in rows}  # type: ignore[misc]


def assert_migrated_as_owner(owner: Owner, reference: TestDatabase) -> None:
    with psycopg.connect(owner.login.conninfo) as conn:
        tables = conn.execute(
            "select c.relname, c.relrowsecurity, c.relforcerowsecurity,"
            " pg_catalog.pg_get_userbyid(c.relowner)"
            " from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'iam' and c.relkind in ('r', 'p') order by 1"
        ).fetchall()
        definers = conn.execute(
            "select p.proname, pg_catalog.pg_get_userbyid(p.proowner)"
            " from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace"
            " where n.nspname = 'iam' and p.prosecdef"
        ).fetchall()
        superuser = conn.execute(
            "select rolsuper from pg_catalog.pg_roles where rolname = current_user"
        ).fetchone()
    assert superuser == (False,)
    assert tables, "the migration created no table in iam"
    for name, enabled, forced, table_owner in tables:
        assert (enabled, forced) == (True, True), f"iam.{name}: RLS not enabled and forced"
        assert table_owner == owner.login.name, f"iam.{name} is owned by {table_owner}"
    assert definers, "the migration created no SECURITY DEFINER function"
    assert {fn_owner for _, fn_owner in definers} == {"iam_definer", "iam_deleter"}
    assert policies(owner.login.conninfo) == policies(reference.conninfo)


def assert_register_login_round_trip(api: Login, owner_conninfo: str) -> None:
    hasher = Passwords().hasher
    email = f"Owner-{uuid.uuid4().hex[:8]}@Example.com"
    password = secrets.token_urlsafe(16)
    with psycopg.connect(api.conninfo) as conn:
        # The login role holds nothing itself (NOINHERIT): only the runtime roles can read.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from iam.users")
        conn.rollback()

        conn.execute(SET_ANON_CONTEXT, ("5000", ""))
        registered = conn.execute(
            "select user_id, email, organization_id from iam.register(%s, %s, %s)",
            (email, hasher.hash(password), "Acme"),
        ).fetchone()
        conn.commit()
        assert registered is not None
        user_id, stored_email, org_id = registered
        assert stored_email == email.lower()

        conn.execute(SET_ANON_CONTEXT, ("5000", ""))
        found = conn.execute(
            "select user_id, password_hash, is_active, organization_id, role"
            " from iam.login_attempt(%s, %s, null, 100, 60, 10, 900)",
            ("192.0.2.1", f"  {email.upper()} "),
        ).fetchone()
        conn.commit()
        assert found is not None
        assert (found[0], found[2], found[3], str(found[4])) == (user_id, True, org_id, "ORG_ADMIN")
        assert hasher.verify(str(found[1]), password)

        # A session, as login starts one; the request's context names it.
        conn.execute(SET_ANON_CONTEXT, ("5000", ""))
        started = conn.execute(
            "select session_id from iam.start_session(%s, %s, %s, 60, null)",
            (user_id, org_id, secrets.token_urlsafe(32)),
        ).fetchone()
        conn.commit()
        assert started is not None
        session_id = started[0]

        # NOINHERIT: the caller is read in a statement of its own, as iam_authenticated.
        assert conn.execute(MAY_READ_CALLER_IN_CONTEXT).fetchone() == (False,)
        conn.execute(SET_TENANT_CONTEXT_ONLY, tenant_context(user_id, org_id, 5000, session_id))
        assert conn.execute(READ_CALLER).fetchone() == ("ORG_ADMIN", True, True)
        conn.execute("insert into iam.projects (name) values ('First')")
        seen = conn.execute("select name, organization_id, created_by_user_id from iam.projects")
        assert seen.fetchall() == [("First", org_id, user_id)]
        conn.commit()

        conn.execute(SET_TENANT_CONTEXT_ONLY, tenant_context("", "", 5000))
        assert conn.execute("select count(*) from iam.projects").fetchone() == (0,)
        with pytest.raises(psycopg.Error) as ended:
            conn.execute(READ_CALLER)
        assert ended.value.sqlstate == SESSION_ENDED
        conn.rollback()
        conn.execute(SET_TENANT_CONTEXT_ONLY, tenant_context("", "", 5000))
        assert conn.execute("select count(*) from iam.projects").fetchone() == (0,)
        conn.commit()

    # docs/dba.md: the grants that let the context statement read the caller
    # and check the session too.
    with psycopg.connect(owner_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("grant usage on schema iam to {}").format(sql.Identifier(api.name)))
        conn.execute(
            sql.SQL(
                "grant execute on function iam.request_caller(uuid, uuid),"
                " iam.request_session(uuid, uuid) to {}"
            ).format(sql.Identifier(api.name))
        )
    with psycopg.connect(api.conninfo) as conn:
        assert conn.execute(MAY_READ_CALLER_IN_CONTEXT).fetchone() == (True,)
        context = tenant_context(user_id, org_id, 5000, session_id)
        caller = conn.execute(SET_TENANT_CONTEXT, context)
        assert caller.fetchone() == ("ORG_ADMIN", True, True)
        assert conn.execute("select name from iam.projects").fetchall() == [("First",)]
        conn.rollback()
        with pytest.raises(psycopg.Error) as ended:
            conn.execute(SET_TENANT_CONTEXT, tenant_context("", "", 5000))
        assert ended.value.sqlstate == SESSION_ENDED
        conn.rollback()


def test_createrole_owner_migrates_where_the_iam_roles_already_exist(
    owner: Owner,
    database: TestDatabase,
    capfd: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    if _server_major(owner.server_conninfo) >= 16:
        # PostgreSQL 16 requires ADMIN OPTION on a role to grant it, also to
        # oneself; CREATEROLE alone no longer suffices. The migration stops
        # with the grant a DBA has to run (docs/supabase.md), and nothing else.
        with pytest.raises(RoleGrantRefused, match="iam_anon"):
            migrate_as(owner, capfd)
        return
    migrate_as(owner, capfd)
    assert_migrated_as_owner(owner, database)
    assert_register_login_round_trip(make_api_login(owner), owner.login.conninfo)


def test_createrole_owner_with_admin_option_on_existing_roles_migrates(
    owner: Owner, database: TestDatabase, capfd: pytest.CaptureFixture[str]
) -> None:
    # What a DBA does on a server whose iam_* roles another role created.
    with psycopg.connect(owner.server_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("grant {} to {} with admin option").format(
                sql.SQL(", ").join(map(sql.Identifier, RUNTIME_ROLES)),
                sql.Identifier(owner.login.name),
            )
        )
    migrate_as(owner, capfd)
    assert_migrated_as_owner(owner, database)
    assert_register_login_round_trip(make_api_login(owner), owner.login.conninfo)


@pytest.mark.slow
def test_createrole_owner_migrates_a_server_without_iam_roles(
    database: TestDatabase, capfd: pytest.CaptureFixture[str]
) -> None:
    # A new Supabase project: the migrating role creates the iam_* roles
    # itself (on PostgreSQL 16+ that makes it their ADMIN). Only a server of
    # its own has no iam_* roles yet, so this one starts a private cluster.
    folder = Path(tempfile.mkdtemp(prefix="rls-iam-fresh-", dir="/tmp"))
    server = EmbeddedPostgres(folder)
    try:
        server.start()
        with createrole_owner(server.conninfo("postgres")) as fresh_owner:
            with psycopg.connect(fresh_owner.server_conninfo) as conn:
                existing = conn.execute(
                    "select count(*) from pg_catalog.pg_roles where rolname like 'iam\\_%'"
                ).fetchone()
            assert existing == (0,)
            migrate_as(fresh_owner, capfd)
            assert_migrated_as_owner(fresh_owner, database)
            assert_register_login_round_trip(
                make_api_login(fresh_owner), fresh_owner.login.conninfo
            )
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
