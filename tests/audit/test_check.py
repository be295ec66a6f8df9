"""`rls-iam policies check`: the live database against what db/ produces."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from service.audit import check as check_module
from tests.support.audit import RunPolicies, run_sql
from tests.support.database import TestDatabase


def changed_lines(diff: str) -> list[str]:
    """The +/- lines of a unified diff, without its file headers."""
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


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


DRIFTS = {
    "extra permissive policy": (
        'create policy "Anyone signed in reads every project" on iam.projects'
        " for select to iam_authenticated using (true)",
        [
            '+policy on iam.projects "Anyone signed in reads every project":'
            " PERMISSIVE SELECT to iam_authenticated",
            '+policy on iam.projects "Anyone signed in reads every project": using true',
        ],
    ),
    "dropped FORCE": (
        "alter table iam.projects no force row level security",
        [
            "-table iam.projects: owner <iam owner>, row level security enabled, forced",
            "+table iam.projects: owner <iam owner>, row level security enabled, not forced",
        ],
    ),
    "grant to PUBLIC": (
        "grant select on iam.organizations to public",
        ["+grant on iam.organizations to PUBLIC: SELECT"],
    ),
    "widened column grant": (
        "grant update (organization_id) on iam.projects to iam_authenticated",
        ["+grant on iam.projects (organization_id) to iam_authenticated: UPDATE"],
    ),
    "definer function without pinned search_path": (
        "alter function iam.login_lookup(text, uuid) reset search_path",
        [
            "-function iam.login_lookup(text,uuid): SECURITY DEFINER, owner iam_definer,"
            ' set search_path=""',
            "+function iam.login_lookup(text,uuid): SECURITY DEFINER, owner iam_definer",
        ],
    ),
    "definer function executable by another role": (
        "grant execute on function iam.register(text, text, text) to iam_authenticated",
        ["+grant on function iam.register(text,text,text) to iam_authenticated: EXECUTE"],
    ),
}


@pytest.mark.parametrize("drift", list(DRIFTS), ids=list(DRIFTS))
def test_each_drift_is_reported_on_its_own(
    drift: str, scratch_copy: str, policies: RunPolicies
) -> None:
    statement, expected = DRIFTS[drift]
    code, out, _ = policies("check", "--database-url", scratch_copy)
    assert code == 0, out  # the copy starts clean
    run_sql(scratch_copy, statement)
    code, out, _ = policies("check", "--database-url", scratch_copy)
    assert code == 1
    assert out.startswith("DRIFT: ")
    assert changed_lines(out) == expected


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
    removed, added = changed_lines(out)
    assert (
        removed.startswith('-policy on iam.projects "Admins can delete') and "ORG_ADMIN" in removed
    )
    assert added.startswith('+policy on iam.projects "Admins can delete')
    assert "ORG_ADMIN" not in added


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
