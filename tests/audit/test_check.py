"""`rls-iam policies check`: the live database against what db/ produces."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from service.audit import check as check_module
from service.audit.catalog import Facts
from service.db.login_role import ensure_api_role
from tests.support.audit import RunPolicies, run_sql
from tests.support.database import TestDatabase, with_dbname


def databases_like(conninfo: str, prefix: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select datname from pg_database where datname like %s", (prefix + "%",)
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_freshly_migrated_database_has_no_drift(
    database: TestDatabase, policies: RunPolicies
) -> None:
    code, out, _ = policies("check", "--database-url", database.conninfo)
    assert code == 0, out
    assert out.startswith("OK: ") and out.count("\n") == 1


def test_check_drops_its_scratch_database(
    database: TestDatabase, policies: RunPolicies, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A prefix of this test's own, so that checks run by others on the same
    # server at the same time do not count.
    prefix = f"rls_iam_policy_check_test_{uuid.uuid4().hex[:6]}_"
    monkeypatch.setattr(check_module, "SCRATCH_PREFIX", prefix)
    code, out, _ = policies("check", "--database-url", database.conninfo)
    assert code == 0, out
    assert databases_like(database.conninfo, prefix) == []


_EXPECTED: dict[str, Facts] = {}


@pytest.fixture
def cached_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the expected state once per session: it depends only on db/ and the server."""
    real = check_module.expected_snapshot

    def cached(conninfo: str, version: str | None = None) -> Facts:
        key = f"{with_dbname(conninfo, 'postgres')} {version}"
        if key not in _EXPECTED:
            _EXPECTED[key] = real(conninfo, version)
        return dict(_EXPECTED[key])

    monkeypatch.setattr(check_module, "expected_snapshot", cached)


# Each drift: the statement that makes it, the statement that undoes what is
# cluster-wide (roles), and the lines the check must print for it.
DRIFTS: dict[str, tuple[str, str, list[str]]] = {
    "extra permissive policy": (
        'create policy "Anyone signed in reads every project" on iam.projects'
        " for select to iam_authenticated using (true)",
        "",
        [
            'policy "Anyone signed in reads every project" on iam.projects: not in the files;'
            " the database has: PERMISSIVE SELECT to iam_authenticated",
            'policy "Anyone signed in reads every project" on iam.projects using: not in the'
            " files; the database has: true",
        ],
    ),
    "dropped FORCE": (
        "alter table iam.projects no force row level security",
        "",
        [
            "table iam.projects: differs",
            "    the files say:    owner <iam owner>, row level security enabled, forced",
            "    the database has: owner <iam owner>, row level security enabled, not forced",
        ],
    ),
    "grant to PUBLIC": (
        "grant select on iam.organizations to public",
        "",
        ["grant on table iam.organizations to PUBLIC: not in the files; the database has: SELECT"],
    ),
    "widened column grant": (
        "grant update (organization_id) on iam.projects to iam_authenticated",
        "",
        [
            "grant on column iam.projects.organization_id to iam_authenticated: not in the files;"
            " the database has: UPDATE"
        ],
    ),
    "definer function without pinned search_path": (
        "alter function iam.login_lookup(text, uuid) reset search_path",
        "",
        [
            "function iam.login_lookup(text,uuid): differs",
            "    the files say:    returns TABLE(user_id uuid, password_hash text, is_active"
            " boolean, organization_id uuid, organization_name text, role iam.org_role),"
            ' language plpgsql, VOLATILE, SECURITY DEFINER, owner iam_definer, set search_path=""',
            "    the database has: returns TABLE(user_id uuid, password_hash text, is_active"
            " boolean, organization_id uuid, organization_name text, role iam.org_role),"
            " language plpgsql, VOLATILE, SECURITY DEFINER, owner iam_definer",
        ],
    ),
    "definer function executable by another role": (
        "grant execute on function iam.register(text, text, text) to iam_authenticated",
        "",
        [
            "grant on function iam.register(text,text,text) to iam_authenticated: not in the"
            " files; the database has: EXECUTE"
        ],
    ),
    "function body replaced": (
        "create or replace function iam.member_role() returns iam.org_role"
        " language plpgsql stable security definer set search_path = ''"
        " as $$ begin return 'ORG_ADMIN'; end $$",
        "",
        [
            "function iam.member_role() body: differs (- the files, + the database):",
            "    @@ -1,10 +1 @@",
            "    -begin",
            "    -return (",
            "    -select m.role",
            "    -from iam.organization_memberships as m",
            "    -join iam.users as u on u.id = m.user_id",
            "    -where m.organization_id = iam.current_org_id()",
            "    -and m.user_id = iam.current_user_id()",
            "    -and u.is_active",
            "    -);",
            "    -end",
            "    +begin return 'ORG_ADMIN'; end",
        ],
    ),
    "function made volatile": (
        "alter function iam.member_role() volatile",
        "",
        [
            "function iam.member_role(): differs",
            "    the files say:    returns iam.org_role, language plpgsql, STABLE,"
            ' SECURITY DEFINER, owner iam_definer, set search_path=""',
            "    the database has: returns iam.org_role, language plpgsql, VOLATILE,"
            ' SECURITY DEFINER, owner iam_definer, set search_path=""',
        ],
    ),
    "definer role granted to a request role": (
        "grant iam_definer to iam_authenticated",
        "revoke iam_definer from iam_authenticated",
        [
            "role iam_authenticated member of iam_definer: not in the files;"
            " the database has: granted"
        ],
    ),
    "deleter role granted to a request role": (
        "grant iam_deleter to iam_authenticated",
        "revoke iam_deleter from iam_authenticated",
        [
            "role iam_authenticated member of iam_deleter: not in the files;"
            " the database has: granted"
        ],
    ),
    "table-level delete given back to a request role": (
        "grant delete on iam.projects to iam_authenticated",
        "revoke delete on iam.projects from iam_authenticated",
        [
            "grant on table iam.projects to iam_authenticated: differs",
            "    the files say:    SELECT",
            "    the database has: DELETE, SELECT",
        ],
    ),
    "last-admin trigger dropped": (
        "drop trigger organization_memberships_keep_last_admin on iam.organization_memberships",
        "",
        [
            "trigger organization_memberships_keep_last_admin on iam.organization_memberships:"
            " missing from the database; the files say: enabled: CREATE TRIGGER"
            " organization_memberships_keep_last_admin BEFORE DELETE OR UPDATE OF role ON"
            " iam.organization_memberships FOR EACH ROW EXECUTE FUNCTION iam.keep_last_admin()"
        ],
    ),
    "trigger disabled": (
        "alter table iam.organization_memberships"
        " disable trigger organization_memberships_lock_change",
        "",
        [
            "trigger organization_memberships_lock_change on iam.organization_memberships: differs",
            "    the files say:    enabled: CREATE TRIGGER organization_memberships_lock_change"
            " BEFORE DELETE OR UPDATE OF role ON iam.organization_memberships FOR EACH ROW"
            " EXECUTE FUNCTION iam.lock_membership_change()",
            "    the database has: disabled: CREATE TRIGGER organization_memberships_lock_change"
            " BEFORE DELETE OR UPDATE OF role ON iam.organization_memberships FOR EACH ROW"
            " EXECUTE FUNCTION iam.lock_membership_change()",
        ],
    ),
    "request role with BYPASSRLS": (
        "alter role iam_authenticated bypassrls",
        "alter role iam_authenticated nobypassrls",
        [
            "role iam_authenticated: differs",
            "    the files say:    NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB NOLOGIN"
            " NOREPLICATION NOBYPASSRLS",
            "    the database has: NOSUPERUSER NOINHERIT NOCREATEROLE NOCREATEDB NOLOGIN"
            " NOREPLICATION BYPASSRLS",
        ],
    ),
    "column default changed": (
        "alter table iam.projects alter column created_by_user_id drop default",
        "",
        [
            "column iam.projects.created_by_user_id: differs",
            "    the files say:    uuid not null default iam.current_user_id()",
            "    the database has: uuid not null",
        ],
    ),
    "column added": (
        "alter table iam.users add column note text",
        "",
        ["column iam.users.note: not in the files; the database has: text"],
    ),
    "default privileges loosened": (
        "alter default privileges grant execute on functions to public",
        "",
        [
            "default privileges of <iam owner> in every schema on functions for <iam owner>:"
            " missing from the database; the files say: EXECUTE"
        ],
    ),
    "view without security_invoker": (
        "create view iam.member_emails with (security_barrier) as select email from iam.users",
        "",
        [
            "column iam.member_emails.email: not in the files; the database has: text",
            "grant on view iam.member_emails to <iam owner>: not in the files; the database has:",
            "view iam.member_emails: not in the files; the database has: owner <iam owner>,"
            " with (security_barrier=true)",
            # PostgreSQL 15 qualifies the column (users.email), 16 and later do not.
            "view iam.member_emails query: not in the files; the database has: SELECT ",
        ],
    ),
}


def _starts(lines: list[str], expected: list[str]) -> bool:
    return len(lines) == len(expected) and all(
        line.startswith(want) for line, want in zip(lines, expected, strict=True)
    )


@pytest.mark.parametrize("drift", list(DRIFTS), ids=list(DRIFTS))
@pytest.mark.usefixtures("cached_expected")
def test_each_drift_is_reported_in_words(
    drift: str, scratch_copy: str, policies: RunPolicies
) -> None:
    statement, undo, expected = DRIFTS[drift]
    try:
        run_sql(scratch_copy, statement)
        code, out, _ = policies("check", "--database-url", scratch_copy)
    finally:
        if undo:
            run_sql(scratch_copy, undo)
    assert code == 1, out
    first, *lines = out.splitlines()
    assert first.startswith("DRIFT: ")
    assert _starts(lines, expected), out


@pytest.mark.usefixtures("cached_expected")
def test_changed_policy_expression_shows_both_versions(
    scratch_copy: str, policies: RunPolicies
) -> None:
    run_sql(
        scratch_copy,
        """alter policy "Admins can delete their organization's projects" on iam.projects
           using (organization_id = (select iam.current_org_id()))""",
    )
    code, out, _ = policies("check", "--database-url", scratch_copy)
    assert code == 1
    _, key, files, live = out.splitlines()
    assert key.startswith('policy "Admins can delete their organization')
    assert key.endswith('" on iam.projects using: differs')
    assert "ORG_ADMIN" in files and "ORG_ADMIN" not in live


@pytest.fixture
def api_login_role(scratch_copy: str) -> Iterator[str]:
    """A login role made in the scratch copy the way `db migrate` makes rls_iam_api."""
    role = f"rls_iam_api_check_{uuid.uuid4().hex[:6]}"
    ensure_api_role(scratch_copy, uuid.uuid4().hex, role)
    try:
        yield role
    finally:
        # Its grants live in the copy: drop them before the cluster-wide role.
        run_sql(scratch_copy, f"drop owned by {role}; drop role {role}")


@pytest.mark.usefixtures("cached_expected")
def test_the_login_role_db_migrate_makes_checks_clean(
    scratch_copy: str, api_login_role: str, policies: RunPolicies
) -> None:
    code, out, _ = policies("check", "--database-url", scratch_copy, "--api-role", api_login_role)
    assert code == 0, out


# What a login role of the API may not hold beyond its memberships and the
# context statement's grants, and what the check prints for it (the role
# takes its grants and memberships with it when the fixture drops it).
API_ROLE_EXTRAS: dict[str, tuple[str, list[str]]] = {
    "membership of the definer": (
        "grant iam_definer to {role}",
        [
            "role {role} (API login role) member of iam_definer: not in the files;"
            " the database has: granted"
        ],
    ),
    "another definer function": (
        "grant execute on function iam.login_lookup(text, uuid) to {role}",
        [
            "grant on function iam.login_lookup(text,uuid) to {role}: not in the files;"
            " the database has: EXECUTE"
        ],
    ),
    "a table": (
        "grant select on iam.users to {role}",
        ["grant on table iam.users to {role}: not in the files; the database has: SELECT"],
    ),
    "create in the schema": (
        "grant create on schema iam to {role}",
        [
            "grant on schema iam to {role}: differs",
            "    the files say:    USAGE",
            "    the database has: CREATE, USAGE",
        ],
    ),
}


@pytest.mark.parametrize("extra", list(API_ROLE_EXTRAS), ids=list(API_ROLE_EXTRAS))
@pytest.mark.usefixtures("cached_expected")
def test_a_login_role_allowed_more_is_drift(
    extra: str, scratch_copy: str, api_login_role: str, policies: RunPolicies
) -> None:
    statement, lines = API_ROLE_EXTRAS[extra]
    run_sql(scratch_copy, statement.format(role=api_login_role))
    code, out, _ = policies("check", "--database-url", scratch_copy, "--api-role", api_login_role)
    assert code == 1, out
    assert out.splitlines()[1:] == [line.format(role=api_login_role) for line in lines], out


@pytest.mark.usefixtures("cached_expected")
def test_a_login_role_without_the_context_grants_is_told_so(
    scratch_copy: str, server_conninfo: str, policies: RunPolicies
) -> None:
    """A role made by hand with the memberships only: its requests take one statement
    more, so the check names the grants `db migrate` would have given it."""
    role = f"rls_iam_api_check_{uuid.uuid4().hex[:6]}"
    run_sql(
        server_conninfo,
        f"create role {role} login noinherit; grant iam_anon, iam_authenticated to {role}",
    )
    try:
        code, out, _ = policies("check", "--database-url", scratch_copy, "--api-role", role)
    finally:
        run_sql(server_conninfo, f"drop role {role}")
    assert code == 1
    assert out.splitlines()[1:] == [
        f"grant on function iam.request_caller(uuid,uuid) to {role}: missing from the database;"
        " the files say: EXECUTE",
        f"grant on function iam.request_session(uuid,uuid) to {role}: missing from the database;"
        " the files say: EXECUTE",
        f"grant on schema iam to {role}: missing from the database; the files say: USAGE",
    ]


def test_role_without_createdb_is_told_so(
    database: TestDatabase, server_conninfo: str, policies: RunPolicies
) -> None:
    role = f"rls_iam_audit_nocreatedb_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    run_sql(server_conninfo, f'create role "{role}" login nocreatedb')
    try:
        conninfo = make_conninfo(database.conninfo, user=role)
        code, out, err = policies("check", "--database-url", conninfo)
    finally:
        run_sql(server_conninfo, f'drop role "{role}"')
    assert code == 2, out
    assert "CREATEDB" in err
