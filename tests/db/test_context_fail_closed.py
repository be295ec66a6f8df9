"""A missing, empty or malformed context gives zero rows and no error.

Also on a connection that has just served a tenant: set_config(..., true)
ends with the transaction, so what a committed (or rolled-back) request
set is gone before the next one starts.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.sql import Committed, Conn, World, act_as, connect, ids

TABLES = ["organizations", "users", "organization_memberships", "projects"]
TENANT_TABLES = ["organizations", "organization_memberships", "projects"]


def _no_context(conn: Conn, _: World) -> None:
    conn.execute("set local role iam_authenticated")


CONTEXTS: dict[str, Any] = {
    "no_context": _no_context,
    "empty_context": lambda conn, _: act_as(conn, "", ""),
    "malformed_context": lambda conn, _: act_as(conn, "not-a-uuid", "not-a-uuid"),
    "sql_in_context": lambda conn, _: act_as(conn, "' or true --", "' or true --"),
    "uuid_with_spaces": lambda conn, w: act_as(conn, f" {w.a.admin} ", f" {w.a.org_id} "),
}
# A valid half of a context does not open anything that needs the other half.
PARTIAL_CONTEXTS: dict[str, Any] = {
    "user_without_org": lambda conn, w: act_as(conn, w.a.admin, ""),
    "user_with_malformed_org": lambda conn, w: act_as(conn, w.a.admin, "not-a-uuid"),
    "org_without_user": lambda conn, w: act_as(conn, "", w.a.org_id),
    "org_with_malformed_user": lambda conn, w: act_as(conn, "not-a-uuid", w.a.org_id),
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
    assert conn.execute("delete from iam.projects").rowcount == 0
    assert conn.execute("delete from iam.organization_memberships").rowcount == 0


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
