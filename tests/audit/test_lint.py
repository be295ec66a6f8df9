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
            " once per statement",
            'iam.projects: 2 permissive SELECT policies for iam_authenticated ("Members can'
            ' read their organization\'s projects", "Members read projects, per row");'
            " they are ORed, so the loosest one decides: merge them into one",
        ],
    ),
    "unwrapped helper call in WITH CHECK": (
        'create policy "Members add projects" on iam.projects for insert to iam_authenticated'
        " with check ((select iam.current_org_id()) = organization_id"
        " and iam.member_role_for_write() = 'ORG_USER')",
        [
            'iam.projects policy "Members add projects": WITH CHECK calls'
            " iam.member_role_for_write() per row; write (select iam.member_role_for_write())"
            " so it runs once per statement",
            'iam.projects: 2 permissive INSERT policies for iam_authenticated ("Admins and'
            ' users can create projects in their organization", "Members add projects");'
            " they are ORed, so the loosest one decides: merge them into one",
        ],
    ),
    "policy for PUBLIC": (
        'create policy "Anyone reads organizations" on iam.organizations for select'
        " using (id = (select iam.current_org_id()))",
        [
            'iam.organizations policy "Anyone reads organizations": applies to PUBLIC;'
            " name the role it is for (TO ...)",
            "iam.organizations: 2 permissive SELECT policies for iam_authenticated"
            ' ("Anyone reads organizations", "Members can read their active organization");'
            " they are ORed, so the loosest one decides: merge them into one",
            "iam.organizations: 2 permissive SELECT policies for iam_deleter"
            ' ("Anyone reads organizations", "Deletes find the organization members can read");'
            " they are ORed, so the loosest one decides: merge them into one",
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
    "always-true policy for a request role": (
        'alter policy "Members can read their organization\'s projects" on iam.projects'
        " using (true)",
        [
            'iam.projects policy "Members can read their organization\'s projects": USING is'
            " always true for a request role; every row of every organization passes"
        ],
    ),
    "always-false permissive policy": (
        'alter policy "Admins can delete their organization\'s projects" on iam.projects'
        " using (false)",
        [
            'iam.projects policy "Admins can delete their organization\'s projects": USING is'
            " always false; a permissive policy that lets nothing through is dead or a mistake"
            " (drop it, or make it restrictive)"
        ],
    ),
    "bare current_setting in a policy": (
        'alter policy "Members can read their organization\'s projects" on iam.projects'
        " using (organization_id = current_setting('iam.org_id', true)::uuid"
        " and (select iam.member_role()) is not null)",
        [
            'iam.projects policy "Members can read their organization\'s projects": USING'
            " reads current_setting() directly, once per row; read the context through"
            " (select iam.current_user_id()) or (select iam.current_org_id())"
        ],
    ),
    # What `grant all` gives besides the commands RLS governs (and, from 17 on, MAINTAIN).
    "grant all includes TRUNCATE": (
        "grant select, insert, update, delete, truncate, references, trigger on iam.projects"
        " to iam_authenticated",
        [
            "iam.projects: REFERENCES, TRIGGER, TRUNCATE granted to iam_authenticated; row"
            " level security does not govern these, revoke them",
            "iam.projects: table-level DELETE, UPDATE granted to iam_authenticated, which lets"
            " it LOCK the table in ACCESS EXCLUSIVE mode and stall every tenant; grant UPDATE by"
            " column and delete through a SECURITY DEFINER function owned by iam_deleter",
        ],
    ),
    "table-level DELETE for a request role": (
        "grant delete on iam.sessions to iam_authenticated",
        [
            "iam.sessions: table-level DELETE granted to iam_authenticated, which lets it LOCK"
            " the table in ACCESS EXCLUSIVE mode and stall every tenant; grant UPDATE by column"
            " and delete through a SECURITY DEFINER function owned by iam_deleter"
        ],
    ),
    "always-true delete policy for the role that runs requests' deletes": (
        'alter policy "Admins can remove members, and members can leave"'
        " on iam.organization_memberships using (true)",
        [
            'iam.organization_memberships policy "Admins can remove members, and members can'
            ' leave": USING is always true for a request role; every row of every organization'
            " passes"
        ],
    ),
    "secret column readable by a request role": (
        "grant select (password_hash) on iam.users to iam_authenticated",
        [
            "iam.users.password_hash: iam_authenticated may read it, and its name says it holds"
            " a secret; leave it out of the column grants"
        ],
    ),
    "materialized view of an iam table": (
        "create materialized view iam.project_counts as"
        " select organization_id, count(*) from iam.projects group by 1",
        [
            "materialized view iam.project_counts: holds iam rows with no row level security;"
            " use a view with security_invoker = true, or keep it out of every grant"
        ],
    ),
    "view in another schema exposing an iam table": (
        "create schema reporting; create view reporting.emails as select email from iam.users",
        [
            "view reporting.emails: runs with its owner's rights, past the caller's"
            " policies; set security_invoker = true"
        ],
    ),
    "definer function owned by a superuser": (
        "alter function iam.member_role() owner to current_user",
        [
            "function iam.member_role(): SECURITY DEFINER owned by postgres, a superuser, so no"
            " policy applies inside it; give it to iam_definer (or iam_deleter, for a delete)"
        ],
    ),
    "invoker function with mutable search_path": (
        "alter function iam.touch_updated_at() reset search_path",
        [
            "function iam.touch_updated_at(): search_path is not pinned, so names it does not"
            " qualify resolve in the caller's schemas; add SET search_path = ''"
        ],
    ),
    "function executable by PUBLIC": (
        "create function iam.answer() returns int language sql set search_path = ''"
        " as 'select 42'; grant execute on function iam.answer() to public",
        [
            "function iam.answer(): executable by PUBLIC; revoke execute from public"
            " and grant it to the role that needs it"
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


def test_new_functions_are_not_executable_by_public(
    scratch_copy: str, policies: RunPolicies
) -> None:
    """The migrating role's default privileges revoke EXECUTE from PUBLIC on new functions."""
    run_sql(
        scratch_copy,
        "create function iam.answer() returns int language sql set search_path = '' as 'select 42'",
    )
    code, out, _ = policies("lint", "--database-url", scratch_copy)
    assert code == 0, out


# Role attributes and memberships are cluster-wide: each test undoes its own.
ROLE_FLAWS = {
    "request role with BYPASSRLS": (
        "alter role iam_anon bypassrls",
        "alter role iam_anon nobypassrls",
        ["role iam_anon: has BYPASSRLS, so no policy applies to it"],
    ),
    "request role member of the definer role": (
        "grant iam_definer to iam_authenticated",
        "revoke iam_definer from iam_authenticated",
        [
            "role iam_authenticated: is a member of iam_definer, which owns iam objects or skips"
            " row level security; SET ROLE iam_definer would leave the policies behind: revoke it"
        ],
    ),
    "request role member of the role that runs the deletes": (
        "grant iam_deleter to iam_authenticated",
        "revoke iam_deleter from iam_authenticated",
        [
            "role iam_authenticated: is a member of iam_deleter, which owns iam objects or skips"
            " row level security; SET ROLE iam_deleter would leave the policies behind: revoke it"
        ],
    ),
}


@pytest.mark.parametrize("flaw", list(ROLE_FLAWS), ids=list(ROLE_FLAWS))
def test_each_role_flaw_is_one_finding(flaw: str, scratch_copy: str, policies: RunPolicies) -> None:
    statement, undo, expected = ROLE_FLAWS[flaw]
    try:
        run_sql(scratch_copy, statement)
        code, out, _ = policies("lint", "--database-url", scratch_copy)
    finally:
        run_sql(scratch_copy, undo)
    assert code == 1
    assert out.splitlines() == expected
