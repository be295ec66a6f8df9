"""`rls-iam policies matrix`: the role table, measured on the live database."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from service.audit.matrix import ACTIONS
from tests.support.audit import RunPolicies, run_sql
from tests.support.database import TestDatabase

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs" / "policies.md"
EXPECTED_FILE = HERE / "expected_matrix.json"

ACTORS = ["ORG_ADMIN", "ORG_USER", "READ_ONLY", "outsider", "anonymous"]
Y, N = "allowed", "denied"
# The product's role table, plus the outsider (a member of another
# organization who claims this one) and the anonymous caller (iam_anon, no
# token): every tenant action denied. Only a caller without a token
# registers or looks a login up. Nobody adds a member without an invitation,
# and nobody reads a token's digest.
ROLE_TABLE = {
    "read_organization": [Y, Y, Y, N, N],
    "list_projects": [Y, Y, Y, N, N],
    "read_members": [Y, Y, Y, N, N],
    "create_project": [Y, Y, N, N, N],
    "update_project": [Y, Y, N, N, N],
    "delete_project": [Y, N, N, N, N],
    "add_member_directly": [N, N, N, N, N],
    "invite_member": [Y, N, N, N, N],
    "list_invitations": [Y, N, N, N, N],
    "read_invitation_tokens": [N, N, N, N, N],
    "revoke_invitation": [Y, N, N, N, N],
    "change_role": [Y, N, N, N, N],
    "remove_member": [Y, N, N, N, N],
    "create_organization": [Y, N, N, N, N],
    "rename_organization": [Y, N, N, N, N],
    "delete_organization": [Y, N, N, N, N],
    "leave_organization": [Y, Y, Y, N, N],
    "register": [N, N, N, N, Y],
    "login_lookup": [N, N, N, N, Y],
    "read_audit_events": [Y, N, N, N, N],
    # Append-only: nobody writes the audit log but the database's triggers.
    "forge_audit_event": [N, N, N, N, N],
    "rewrite_audit_events": [N, N, N, N, N],
    "erase_audit_events": [N, N, N, N, N],
}
EXPECTED = {
    "actors": ACTORS,
    "matrix": {action: dict(zip(ACTORS, row, strict=True)) for action, row in ROLE_TABLE.items()},
}


def test_measured_matrix_is_the_role_table(database: TestDatabase, policies: RunPolicies) -> None:
    code, out, _ = policies("matrix", "--format", "json", "--database-url", database.conninfo)
    assert code == 0
    assert json.loads(out) == EXPECTED


def test_committed_expected_matrix_is_the_role_table() -> None:
    # CI compares the command's output with this file.
    assert json.loads(EXPECTED_FILE.read_text()) == EXPECTED


def test_docs_policies_md_is_current(database: TestDatabase, policies: RunPolicies) -> None:
    code, out, _ = policies("matrix", "--format", "markdown", "--database-url", database.conninfo)
    assert code == 0
    assert DOCS.read_text() == out, (
        "docs/policies.md is stale: rls-iam policies matrix --format markdown > docs/policies.md"
    )


def test_text_format_has_a_row_per_action(database: TestDatabase, policies: RunPolicies) -> None:
    code, out, _ = policies("matrix", "--database-url", database.conninfo)
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["action", *ACTORS]
    assert [row[: len(a.label)] for row, a in zip(rows, ACTIONS, strict=True)] == [
        a.label for a in ACTIONS
    ]
    delete_row = rows[[a.key for a in ACTIONS].index("delete_project")]
    assert delete_row.split()[-5:] == [Y, N, N, N, N]


def _row_counts(conninfo: str) -> list[int]:
    counts = []
    with psycopg.connect(conninfo) as conn:
        for table in (
            "organizations",
            "users",
            "organization_memberships",
            "projects",
            "invitations",
        ):
            row = conn.execute(f"select count(*) from iam.{table}").fetchone()
            assert row is not None
            counts.append(int(row[0]))
    return counts


def test_matrix_leaves_the_database_as_it_was(
    database: TestDatabase, policies: RunPolicies
) -> None:
    before = _row_counts(database.conninfo)
    code, _, _ = policies("matrix", "--format", "json", "--database-url", database.conninfo)
    assert code == 0
    assert _row_counts(database.conninfo) == before


def test_matrix_shows_a_policy_that_lets_read_only_members_delete(
    scratch_copy: str, policies: RunPolicies
) -> None:
    run_sql(
        scratch_copy,
        """alter policy "Admins can delete their organization's projects" on iam.projects
           using (organization_id = (select iam.current_org_id())
                  and (select iam.member_role_for_write()) is not null)""",
    )
    code, out, _ = policies("matrix", "--format", "json", "--database-url", scratch_copy)
    assert code == 0
    measured = json.loads(out)["matrix"]
    assert measured["delete_project"] == dict(zip(ACTORS, [Y, Y, Y, N, N], strict=True))
    assert {k: v for k, v in measured.items() if k != "delete_project"} == {
        k: v for k, v in EXPECTED["matrix"].items() if k != "delete_project"
    }


def test_matrix_shows_a_policy_that_leaks_other_tenants_projects(
    scratch_copy: str, policies: RunPolicies
) -> None:
    run_sql(
        scratch_copy,
        'create policy "Everyone reads every project" on iam.projects'
        " for select to iam_authenticated using (true)",
    )
    code, out, _ = policies("matrix", "--format", "json", "--database-url", scratch_copy)
    assert code == 0
    row = json.loads(out)["matrix"]["list_projects"]
    leak = "leaks another organization's rows"
    assert row == {**{actor: leak for actor in ACTORS[:-1]}, "anonymous": N}


def test_matrix_shows_an_event_filed_under_another_organization(
    scratch_copy: str, policies: RunPolicies
) -> None:
    """The audit log's expected answer is what the seeding changed, not the events' own column."""
    run_sql(
        scratch_copy,
        """create or replace function iam.audit_project_change() returns trigger
           language plpgsql security definer set search_path = '' as $$
           begin
             insert into iam.audit_events
               (organization_id, actor_user_id, action, target_type, target_id, changes)
             values (pg_catalog.gen_random_uuid(), iam.current_user_id(), 'project.created',
                     'project', new.id, '{}');
             return null;
           end $$""",
    )
    code, out, _ = policies("matrix", "--format", "json", "--database-url", scratch_copy)
    assert code == 0
    row = json.loads(out)["matrix"]["read_audit_events"]
    assert row == {**dict.fromkeys(ACTORS, N), "ORG_ADMIN": "partial"}
