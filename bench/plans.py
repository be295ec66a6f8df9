"""The plans PostgreSQL chooses for the API's hot queries, as the runtime role with a context.

Each query is the API's own SQL (service/db/queries/projects.py), explained twice:
as a custom plan (what the first executions of a prepared statement get) and
as the generic plan (what a prepared statement may switch to after five
executions; plan_cache_mode = force_generic_plan makes PostgreSQL show it).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from service.db.queries import audit_events, projects
from service.db.runner import SET_TENANT_CONTEXT_ONLY, tenant_context

Conn = psycopg.Connection[Any]

INDEX_SCANS = frozenset({"Index Scan", "Index Only Scan", "Bitmap Index Scan"})


@dataclass(frozen=True)
class HotQuery:
    name: str
    sql: str
    index: str  # the index every access to the table must use; "prefix_*": any such index
    # The SECURITY DEFINER SQL function the statement calls, if any: EXPLAIN
    # shows only the call, so its body is what gets explained, as its owner.
    function: str | None = None


HOT_QUERIES = (
    HotQuery("list first page", projects.LIST_FIRST, "projects_org_created_idx"),
    HotQuery("list after cursor", projects.LIST_AFTER, "projects_org_created_idx"),
    HotQuery("get by id", projects.GET, "projects_pkey"),
    HotQuery("update by id", projects.UPDATE, "projects_pkey"),
    HotQuery("delete by id", projects.DELETE, "projects_pkey", "iam.delete_project(uuid)"),
)


# GET /audit-events: each filter, as the API builds its statement, and the
# index that must serve it (db/migrations/*_create_audit_events.sql).
AUDIT_QUERIES = (
    HotQuery("audit first page", audit_events.page_statement((), False), "audit_events_pkey"),
    HotQuery("audit after cursor", audit_events.page_statement((), True), "audit_events_pkey"),
    # No index of its own: any index of the organization's events will do
    # (the planner picks one, then keeps the matching rows), never the table.
    HotQuery("audit by action", audit_events.page_statement(("action",), False), "audit_events_*"),
    HotQuery(
        "audit by actor",
        audit_events.page_statement(("actor_user_id",), False),
        "audit_events_org_actor_idx",
    ),
    HotQuery(
        "audit by target",
        audit_events.page_statement(("target_id",), False),
        "audit_events_org_target_idx",
    ),
    HotQuery(
        "audit in a time range",
        audit_events.page_statement(("since", "until"), False),
        "audit_events_pkey",
    ),
)


def hot_query_params(
    query: HotQuery, project: uuid.UUID, after_micros: int, after_id: uuid.UUID
) -> dict[str, Any]:
    """Parameters as the API passes them (a page of 50, a cursor, a project id)."""
    if query.name == "list first page":
        return {"limit": 50}
    if query.name == "list after cursor":
        return {"limit": 50, "after_micros": after_micros, "after_id": after_id}
    if query.name == "update by id":
        return {"id": project, "name": None, "description": "x", "set_description": True}
    return {"id": project}


def audit_query_params(conn: Conn, org_id: uuid.UUID) -> dict[str, Any]:
    """Parameters of every audit query for one organization: filters that match some of
    its events, a cursor 90% down its log, and the range between 10% and 90% down."""
    rows = conn.execute(
        "select (extract(epoch from occurred_at) * 1000000)::bigint, id, occurred_at, target_id"
        " from iam.audit_events where organization_id = %s order by occurred_at desc, id desc",
        (org_id,),
    ).fetchall()
    micros, after_id, occurred, target = rows[int(len(rows) * 0.9)]
    return {
        "limit": 50,
        "after_micros": micros,
        "after_id": after_id,
        "action": "member.added",
        "actor_user_id": uuid.uuid4(),
        "target_id": target,
        "since": occurred,
        "until": rows[int(len(rows) * 0.1)][2],
    }


def params_of(query: HotQuery, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters query names, out of a larger set."""
    names = set(to_positional(query.sql)[1])
    return {name: value for name, value in params.items() if name in names}


@dataclass(frozen=True)
class Access:
    """One node of a plan that reads iam.projects."""

    node: str
    index: str | None


def explained(conn: Conn, query: HotQuery) -> tuple[str, str | None]:
    """The statement to explain for query, and the role to explain it as (None: the
    request's): a function's body, its arguments named as the call's parameters."""
    if query.function is None:
        return query.sql, None
    row = conn.execute(
        "select p.prosrc, p.proargnames[1:p.pronargs], pg_catalog.pg_get_userbyid(p.proowner)"
        " from pg_catalog.pg_proc as p where p.oid = %s::regprocedure",
        (query.function,),
    ).fetchone()
    assert row is not None
    body, arguments, owner = row
    for argument, param in zip(arguments, to_positional(query.sql)[1], strict=True):
        body = re.sub(rf"\b{argument}\b", f"%({param})s", body)
    return body.strip(), str(owner)


def explain(
    conn: Conn,
    query: str,
    params: Mapping[str, Any],
    user_id: uuid.UUID,
    org_id: uuid.UUID,
    *,
    generic: bool,
    role: str | None = None,
) -> dict[str, Any]:
    """The JSON plan of query as iam_authenticated (or role) for (user_id, org_id);
    nothing is executed."""
    with conn.transaction(force_rollback=True):
        conn.execute(SET_TENANT_CONTEXT_ONLY, tenant_context(user_id, org_id, 5000))
        if role is not None:
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        if not generic:
            row = conn.execute(f"explain (format json) {query}", params).fetchone()
        else:
            positional, names = to_positional(query)
            conn.execute("set local plan_cache_mode = force_generic_plan")
            conn.execute(f"prepare bench_explain as {positional}")
            try:
                args = sql.SQL(", ").join(sql.Literal(params[name]) for name in names)
                row = conn.execute(
                    sql.SQL("explain (format json) execute bench_explain ({})").format(args)
                ).fetchone()
            finally:
                conn.execute("deallocate bench_explain")
    assert row is not None
    plan: dict[str, Any] = row[0][0]["Plan"]
    return plan


def to_positional(query: str) -> tuple[str, list[str]]:
    """psycopg's %(name)s placeholders as $1, $2, ... and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return re.sub(r"%\((\w+)\)s", number, query), names


def nodes(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def project_accesses(plan: Mapping[str, Any]) -> list[Access]:
    """Every node that reads iam.projects: scans of the table and of its indexes."""
    return table_accesses(plan, "projects")


def table_accesses(plan: Mapping[str, Any], table: str) -> list[Access]:
    """Every node that reads iam.<table>: scans of the table and of its indexes."""
    found = []
    for node in nodes(plan):
        relation = node.get("Relation Name")
        index = node.get("Index Name")
        if relation == table or (index is not None and str(index).startswith(f"{table}_")):
            found.append(Access(str(node["Node Type"]), None if index is None else str(index)))
    return found


def describe(accesses: list[Access]) -> str:
    return ", ".join(f"{a.node} on {a.index}" if a.index else a.node for a in accesses)


def _is(name: str | None, index: str) -> bool:
    if index.endswith("*"):
        return name is not None and name.startswith(index[:-1])
    return name == index


def uses_only(accesses: list[Access], index: str) -> bool:
    """True when iam.projects is read, and only through index (or a bitmap heap scan of it)."""
    if not accesses:
        return False
    for access in accesses:
        if access.node in INDEX_SCANS:
            if not _is(access.index, index):
                return False
        elif access.node not in {"Bitmap Heap Scan", "ModifyTable"}:
            return False
    return any(access.node in INDEX_SCANS for access in accesses)
