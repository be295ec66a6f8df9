"""The API's hot queries read iam.projects through the right index, never a sequential scan.

On a seeded database (a big tenant of 2,000 projects among 200 small ones,
analyzed), each query of service/db/queries/projects.py is explained as
iam_authenticated with a context, as a custom and as a generic plan. A policy
or query change that makes PostgreSQL scan the table fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bench import plans
from bench.plan import BIG_TENANT, Plan, admin_of, org_id, user_id
from tests.support.bench_seed import seeded_database

PLAN = Plan.at_scale(0.02)
TYPICAL_TENANT = 3
TENANTS = {"big tenant": BIG_TENANT, "typical tenant": TYPICAL_TENANT}


@pytest.fixture(scope="module")
def seeded(server_conninfo: str) -> Iterator[str]:
    with seeded_database(server_conninfo, "explain", PLAN) as conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("vacuum (analyze)")
        yield conninfo


@pytest.fixture
def conn(seeded: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(seeded) as connection:
        yield connection
        connection.rollback()


def _params(conn: psycopg.Connection[Any], query: plans.HotQuery, org: int) -> dict[str, Any]:
    """A project of the tenant, and the position 90% down its newest-first list."""
    rows = conn.execute(
        "select (extract(epoch from created_at) * 1000000)::bigint, id from iam.projects"
        " where organization_id = %s order by created_at desc, id desc",
        (org_id(org),),
    ).fetchall()
    micros, after_id = rows[int(len(rows) * 0.9)]
    return plans.hot_query_params(query, uuid.UUID(str(rows[0][1])), micros, after_id)


def _accesses(
    conn: psycopg.Connection[Any], query: plans.HotQuery, org: int, *, generic: bool
) -> list[plans.Access]:
    statement, role = plans.explained(conn, query)
    tree = plans.explain(
        conn,
        statement,
        _params(conn, query, org),
        user_id(admin_of(org)),
        org_id(org),
        generic=generic,
        role=role,
    )
    return plans.project_accesses(tree)


def test_seeded_tenants_have_the_planned_sizes(conn: psycopg.Connection[Any]) -> None:
    counts = dict(
        conn.execute(
            "select organization_id, count(*) from iam.projects"
            " where organization_id = any(%s) group by organization_id",
            ([org_id(BIG_TENANT), org_id(TYPICAL_TENANT)],),
        ).fetchall()
    )
    assert counts[org_id(BIG_TENANT)] == PLAN.big_projects == 2000
    assert 50 < counts[org_id(TYPICAL_TENANT)] < 200


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
@pytest.mark.parametrize("query", plans.HOT_QUERIES, ids=lambda q: q.name)
def test_hot_query_reads_projects_only_through_its_index(
    conn: psycopg.Connection[Any], query: plans.HotQuery, generic: bool, tenant: str
) -> None:
    accesses = _accesses(conn, query, TENANTS[tenant], generic=generic)
    assert all(a.node != "Seq Scan" for a in accesses), plans.describe(accesses)
    assert plans.uses_only(accesses, query.index), plans.describe(accesses)


def test_the_check_fails_when_the_list_index_is_missing(conn: psycopg.Connection[Any]) -> None:
    # The check itself must be able to fail: without the keyset index the
    # first page is read another way (a sequential scan or another index).
    query = plans.HOT_QUERIES[0]
    conn.execute("drop index iam.projects_org_created_idx")
    accesses = _accesses(conn, query, BIG_TENANT, generic=False)
    assert not plans.uses_only(accesses, query.index), plans.describe(accesses)


def test_the_check_sees_a_sequential_scan(conn: psycopg.Connection[Any]) -> None:
    query = next(q for q in plans.HOT_QUERIES if q.name == "get by id")
    conn.execute("set local enable_indexscan = off")
    conn.execute("set local enable_bitmapscan = off")
    accesses = _accesses(conn, query, BIG_TENANT, generic=False)
    assert any(a.node == "Seq Scan" for a in accesses)
    assert not plans.uses_only(accesses, query.index)


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
def test_next_page_seeks_to_the_cursor_in_the_index(
    conn: psycopg.Connection[Any], generic: bool
) -> None:
    # A cursor that were only a Filter would read every row before it: deep
    # pages would get slower the deeper they are.
    query = next(q for q in plans.HOT_QUERIES if q.name == "list after cursor")
    tree = plans.explain(
        conn,
        query.sql,
        _params(conn, query, BIG_TENANT),
        user_id(admin_of(BIG_TENANT)),
        org_id(BIG_TENANT),
        generic=generic,
    )
    scans = [n for n in plans.nodes(tree) if n.get("Index Name") == query.index]
    assert len(scans) == 1
    assert "ROW(created_at, id) <" in scans[0]["Index Cond"]


# ------------------------------------------------------------------ GET /audit-events


def _audit_params(conn: psycopg.Connection[Any], query: plans.HotQuery, org: int) -> dict[str, Any]:
    params = plans.audit_query_params(conn, org_id(org))
    # A member of the tenant as the actor filter: its own admin.
    params["actor_user_id"] = user_id(admin_of(org))
    return plans.params_of(query, params)


def test_seeded_tenants_have_an_audit_log(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "select count(*) from iam.audit_events where organization_id = %s", (org_id(BIG_TENANT),)
    ).fetchone()
    assert row is not None and row[0] > PLAN.big_projects


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
@pytest.mark.parametrize("query", plans.AUDIT_QUERIES, ids=lambda q: q.name)
def test_audit_query_reads_events_only_through_its_index(
    conn: psycopg.Connection[Any], query: plans.HotQuery, generic: bool, tenant: str
) -> None:
    org = TENANTS[tenant]
    params = _audit_params(conn, query, org)
    tree = plans.explain(
        conn, query.sql, params, user_id(admin_of(org)), org_id(org), generic=generic
    )
    accesses = plans.table_accesses(tree, "audit_events")
    assert all(a.node != "Seq Scan" for a in accesses), plans.describe(accesses)
    assert plans.uses_only(accesses, query.index), plans.describe(accesses)


def test_the_audit_check_fails_when_the_target_index_is_missing(
    conn: psycopg.Connection[Any],
) -> None:
    query = next(q for q in plans.AUDIT_QUERIES if q.name == "audit by target")
    conn.execute("drop index iam.audit_events_org_target_idx")
    params = _audit_params(conn, query, BIG_TENANT)
    tree = plans.explain(
        conn,
        query.sql,
        params,
        user_id(admin_of(BIG_TENANT)),
        org_id(BIG_TENANT),
        generic=False,
    )
    accesses = plans.table_accesses(tree, "audit_events")
    assert not plans.uses_only(accesses, query.index), plans.describe(accesses)
