"""`rls-iam policies lint`: one line per finding, exit 1 when there is any."""

from __future__ import annotations

import pytest

from tests.support.audit import RunPolicies, run_sql
from tests.support.database import TestDatabase


def test_migrated_database_lints_clean(database: TestDatabase, policies: RunPolicies) -> None:
    code, out, _ = policies("lint", "--database-url", database.conninfo)
    assert code == 0, out
    assert out.startswith("OK: no findings") and out.count("\n") == 1


FLAWS = {
    "unwrapped helper call": (
        'create policy "Members read projects, per row" on iam.projects'
        " for select to iam_authenticated using (organization_id = iam.current_org_id())",
        [
            'iam.projects policy "Members read projects, per row": USING calls'
            " iam.current_org_id() per row; write (select iam.current_org_id()) so it runs"
            " once per statement"
        ],
    ),
    "unwrapped helper call in WITH CHECK": (
        'create policy "Members add projects" on iam.projects for insert to iam_authenticated'
        " with check ((select iam.current_org_id()) = organization_id"
        " and iam.member_role_for_write() = 'ORG_USER')",
        [
            'iam.projects policy "Members add projects": WITH CHECK calls'
            " iam.member_role_for_write() per row; write (select iam.member_role_for_write())"
            " so it runs once per statement"
        ],
    ),
    "policy for PUBLIC": (
        'create policy "Anyone reads organizations" on iam.organizations for select'
        " using (id = (select iam.current_org_id()))",
        [
            'iam.organizations policy "Anyone reads organizations": applies to PUBLIC;'
            " name the role it is for (TO ...)"
        ],
    ),
    "RLS not forced": (
        "alter table iam.users no force row level security",
        ["iam.users: row level security is not forced (its owner bypasses the policies)"],
    ),
    "RLS disabled": (
        "alter table iam.projects disable row level security",
        ["iam.projects: row level security is not enabled"],
    ),
    "definer function without pinned search_path": (
        "alter function iam.switch_organization(uuid) set search_path = iam, public",
        [
            "function iam.switch_organization(uuid): SECURITY DEFINER with search_path"
            " iam, public; add SET search_path = ''"
        ],
    ),
    "definer function executable by PUBLIC": (
        "grant execute on function iam.login_lookup(text, uuid) to public",
        [
            "function iam.login_lookup(text,uuid): SECURITY DEFINER executable by PUBLIC;"
            " revoke execute from public and grant it to the role that needs it"
        ],
    ),
    "view without security_invoker": (
        "create view iam.project_names as select id, name from iam.projects",
        [
            "view iam.project_names: runs with its owner's rights, past the caller's"
            " policies; set security_invoker = true"
        ],
    ),
    "policy column without an index": (
        "create table iam.notes (id uuid primary key, organization_id uuid not null);"
        " alter table iam.notes enable row level security;"
        " alter table iam.notes force row level security;"
        ' create policy "Members read notes" on iam.notes for select to iam_authenticated'
        " using (organization_id = (select iam.current_org_id()))",
        [
            "iam.notes.organization_id: compared by policy 'Members read notes'"
            " but no index leads with it"
        ],
    ),
}


@pytest.mark.parametrize("flaw", list(FLAWS), ids=list(FLAWS))
def test_each_flaw_is_one_finding(flaw: str, scratch_copy: str, policies: RunPolicies) -> None:
    statement, expected = FLAWS[flaw]
    run_sql(scratch_copy, statement)
    code, out, _ = policies("lint", "--database-url", scratch_copy)
    assert code == 1
    assert out.splitlines() == expected


def test_view_with_security_invoker_is_accepted(scratch_copy: str, policies: RunPolicies) -> None:
    run_sql(
        scratch_copy,
        "create view iam.project_names with (security_invoker = on)"
        " as select id, name from iam.projects",
    )
    code, out, _ = policies("lint", "--database-url", scratch_copy)
    assert code == 0, out


def test_runtime_role_owning_a_table_is_flagged(scratch_copy: str, policies: RunPolicies) -> None:
    run_sql(
        scratch_copy,
        "create table iam.notes (id uuid primary key);"
        " alter table iam.notes enable row level security;"
        " alter table iam.notes force row level security;"
        " alter table iam.notes owner to iam_anon",
    )
    code, out, _ = policies("lint", "--database-url", scratch_copy)
    assert code == 1
    assert out.splitlines() == ["role iam_anon: owns iam relations (notes)"]
