"""A missing or empty context gives zero rows; a malformed one an error; neither widens access.

The readers cast the setting to uuid (docs/dba.md, "The request context"):
empty reads as NULL, which matches no row; text that is no uuid stops the
statement with 22P02 before it reads or writes anything; the other spellings
PostgreSQL accepts (upper case, braces, no hyphens) name the same uuid and
open exactly what its canonical form opens.

Also on a connection that has just served a tenant: set_config(..., true)
ends with the transaction, so what a committed (or rolled-back) request
set is gone before the next one starts.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.support.sql import (
    DELETE_PROJECTS,
    REMOVE_MEMBERS,
    Committed,
    Conn,
    World,
    act_as,
    act_as_owner,
    connect,
    ids,
)

TABLES = ["organizations", "users", "organization_memberships", "projects"]
TENANT_TABLES = ["organizations", "organization_memberships", "projects"]


def _no_context(conn: Conn, _: World) -> None:
    conn.execute("set local role iam_authenticated")


CONTEXTS: dict[str, Any] = {
    "no_context": _no_context,
    "empty_context": lambda conn, _: act_as(conn, "", ""),
}
MALFORMED_CONTEXTS: dict[str, Any] = {
    "malformed_context": lambda conn, _: act_as(conn, "not-a-uuid", "not-a-uuid"),
    "sql_in_context": lambda conn, _: act_as(conn, "' or true --", "' or true --"),
    "uuid_with_spaces": lambda conn, w: act_as(conn, f" {w.a.admin} ", f" {w.a.org_id} "),
    "uuid_with_tab": lambda conn, w: act_as(conn, f"{w.a.admin}\t", f"{w.a.org_id}\t"),
    "uuid_too_short": lambda conn, w: act_as(conn, str(w.a.admin)[:-1], str(w.a.org_id)[:-1]),
}
# Other spellings of the same uuids.
SPELLINGS: dict[str, Any] = {
    "upper_case": lambda u: str(u).upper(),
    "braced": lambda u: "{" + str(u) + "}",
    "braced_upper_case": lambda u: "{" + str(u).upper() + "}",
    "without_hyphens": lambda u: u.hex,
}
# A valid half of a context does not open anything that needs the other half.
PARTIAL_CONTEXTS: dict[str, Any] = {
    "user_without_org": lambda conn, w: act_as(conn, w.a.admin, ""),
    "org_without_user": lambda conn, w: act_as(conn, "", w.a.org_id),
}


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_missing_or_broken_context_reads_zero_rows(
    conn: Conn, world: World, context: str, table: str
) -> None:
    CONTEXTS[context](conn, world)
    assert conn.execute(f"select id from iam.{table}").fetchall() == []


@pytest.mark.parametrize("table", TENANT_TABLES)
@pytest.mark.parametrize("context", sorted(PARTIAL_CONTEXTS))
def test_half_a_context_reads_zero_tenant_rows(
    conn: Conn, world: World, context: str, table: str
) -> None:
    PARTIAL_CONTEXTS[context](conn, world)
    assert conn.execute(f"select id from iam.{table}").fetchall() == []


def test_user_without_org_sees_only_themself(conn: Conn, world: World) -> None:
    act_as(conn, world.a.admin, "")
    assert ids(conn, "select id from iam.users") == {world.a.admin}


@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_missing_or_broken_context_writes_nothing(conn: Conn, world: World, context: str) -> None:
    CONTEXTS[context](conn, world)
    assert conn.execute("update iam.projects set name = name || '!'").rowcount == 0
    projects = world.a.project_ids + world.b.project_ids
    members = [world.a.admin, world.a.user, world.a.read_only, world.b.admin, world.extra]
    assert conn.execute(DELETE_PROJECTS, (projects,)).rowcount == 0
    assert conn.execute(REMOVE_MEMBERS, (members,)).rowcount == 0


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("context", sorted(MALFORMED_CONTEXTS))
def test_malformed_context_stops_the_read_with_an_error(
    conn: Conn, world: World, context: str, table: str
) -> None:
    MALFORMED_CONTEXTS[context](conn, world)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        conn.execute(f"select id from iam.{table}").fetchall()


@pytest.mark.parametrize(
    "write",
    [
        "update iam.projects set name = name || '!'",
        "select * from iam.delete_project('{project}')",
        "select * from iam.remove_member('{member}')",
        "insert into iam.projects (name) values ('Sneaky')",
        "insert into iam.invitations (email, role, token_hash, expires_at)"
        " values ('sneaky@example.com', 'ORG_ADMIN', iam.invitation_token_hash('sneaky'),"
        " now() + interval '1 day')",
        "update iam.organization_memberships set role = 'ORG_ADMIN'",
        "select * from iam.create_organization('Sneaky')",
    ],
)
@pytest.mark.parametrize("context", sorted(MALFORMED_CONTEXTS))
def test_malformed_context_stops_the_write_with_an_error(
    conn: Conn, world: World, context: str, write: str
) -> None:
    before = _projects_and_memberships(conn)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation), conn.transaction():
        MALFORMED_CONTEXTS[context](conn, world)
        conn.execute(write.format(project=world.a.project_ids[0], member=world.a.read_only))
    assert _projects_and_memberships(conn) == before


@pytest.mark.parametrize(
    ("user_half", "org_half"),
    [("malformed", "valid"), ("valid", "malformed")],
)
def test_malformed_half_of_a_context_stops_the_read(
    conn: Conn, world: World, user_half: str, org_half: str
) -> None:
    values = {
        "user": {"malformed": "not-a-uuid", "valid": world.a.admin, "empty": ""},
        "org": {"malformed": "not-a-uuid", "valid": world.a.org_id, "empty": ""},
    }
    act_as(conn, values["user"][user_half], values["org"][org_half])
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        conn.execute("select id from iam.projects").fetchall()


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_other_spelling_of_a_uuid_opens_exactly_what_the_canonical_one_does(
    conn: Conn, world: World, spelling: str, table: str
) -> None:
    act_as(conn, world.a.read_only, world.a.org_id)
    canonical = ids(conn, f"select id from iam.{table}")
    assert canonical, (
        "the canonical spelling must see something for the comparison to mean anything"
    )
    spell = SPELLINGS[spelling]
    act_as(conn, spell(world.a.read_only), spell(world.a.org_id))
    assert ids(conn, f"select id from iam.{table}") == canonical
    assert conn.execute("select iam.current_user_id(), iam.current_org_id()").fetchone() == (
        world.a.read_only,
        world.a.org_id,
    )


def test_malformed_user_with_empty_org_reads_zero_projects(conn: Conn, world: World) -> None:
    # Whether the planner reads the empty organization (no row matches) or
    # the malformed user (22P02) first depends on the plan; both fail closed.
    act_as(conn, "not-a-uuid", "")
    try:
        rows = conn.execute("select id from iam.projects").fetchall()
    except psycopg.errors.InvalidTextRepresentation:
        return
    assert rows == []


def _projects_and_memberships(conn: Conn) -> tuple[int, int, str, str]:
    act_as_owner(conn)
    row = conn.execute(
        "select (select count(*) from iam.projects),"
        " (select count(*) from iam.organizations),"
        " (select string_agg(concat_ws(' ', organization_id, user_id, role), ','"
        "  order by organization_id, user_id) from iam.organization_memberships),"
        " (select coalesce(string_agg(name, ',' order by id), '') from iam.projects)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), str(row[2]), str(row[3])


# ------------------------------------------------- a connection reused after a tenant


def _read_everything(conn: Conn) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        row = conn.execute(f"select count(*) from iam.{table}").fetchone()
        assert row is not None
        counts[table] = int(row[0])
    return counts


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_context_of_a_finished_transaction_is_gone_on_the_same_connection(
    committed_data: Committed, ending: str
) -> None:
    a = committed_data.tenant("leftover")
    with connect(committed_data.conninfo) as pooled:
        act_as(pooled, a.admin, a.org_id)
        served = _read_everything(pooled)
        assert served["projects"] == len(a.project_ids)
        assert served["organization_memberships"] == 3
        pooled.commit() if ending == "commit" else pooled.rollback()

        # The next request forgot to set a context, and only switched role.
        pooled.execute("set local role iam_authenticated")
        assert _read_everything(pooled) == dict.fromkeys(TABLES, 0)
        assert pooled.execute(
            "select current_setting('iam.user_id', true), current_setting('iam.org_id', true)"
        ).fetchone() in {("", ""), (None, None)}
        pooled.rollback()

        # The role itself did not outlive the transaction either.
        row = pooled.execute("select current_user, current_setting('role')").fetchone()
        assert row is not None and row[0] != "iam_authenticated" and row[1] == "none"
        pooled.rollback()


def test_next_tenant_on_the_same_connection_sees_only_its_own_rows(
    committed_data: Committed,
) -> None:
    a = committed_data.tenant("first")
    b = committed_data.tenant("second")
    with connect(committed_data.conninfo) as pooled:
        act_as(pooled, a.admin, a.org_id)
        assert ids(pooled, "select id from iam.projects") == set(a.project_ids)
        pooled.commit()
        act_as(pooled, b.read_only, b.org_id)
        assert ids(pooled, "select id from iam.projects") == set(b.project_ids)
        pooled.commit()


@pytest.mark.parametrize(
    "next_context", ["missing", "empty", "malformed", "with_spaces", "braced", "upper_case"]
)
def test_next_context_on_a_connection_that_served_a_tenant_opens_nothing_of_it(
    committed_data: Committed, next_context: str
) -> None:
    a = committed_data.tenant("served")
    b = committed_data.tenant("next")
    with connect(committed_data.conninfo) as pooled:
        act_as(pooled, a.admin, a.org_id)
        assert ids(pooled, "select id from iam.projects") == set(a.project_ids)
        pooled.commit()

        if next_context == "missing":
            pooled.execute("set local role iam_authenticated")
        elif next_context == "empty":
            act_as(pooled, "", "")
        elif next_context == "malformed":
            act_as(pooled, "not-a-uuid", "not-a-uuid")
        elif next_context == "with_spaces":
            act_as(pooled, f" {b.read_only}", f" {b.org_id}")
        elif next_context == "braced":
            act_as(pooled, "{" + str(b.read_only) + "}", "{" + str(b.org_id) + "}")
        else:
            act_as(pooled, str(b.read_only).upper(), str(b.org_id).upper())

        if next_context in {"malformed", "with_spaces"}:
            with pytest.raises(psycopg.errors.InvalidTextRepresentation):
                pooled.execute("select id from iam.projects").fetchall()
        elif next_context in {"braced", "upper_case"}:
            assert ids(pooled, "select id from iam.projects") == set(b.project_ids)
        else:
            assert _read_everything(pooled) == dict.fromkeys(TABLES, 0)
        pooled.rollback()
