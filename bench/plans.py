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

from service.db.queries import projects
from service.db.runner import SET_TENANT_CONTEXT_ONLY, tenant_context

Conn = psycopg.Connection[Any]

INDEX_SCANS = frozenset({"Index Scan", "Index Only Scan", "Bitmap Index Scan"})


@dataclass(frozen=True)
class HotQuery:
    name: str
    sql: str
    index: str  # the index every access to iam.projects must use


HOT_QUERIES = (
    HotQuery("list first page", projects.LIST_FIRST, "projects_org_created_idx"),
    HotQuery("list after cursor", projects.LIST_AFTER, "projects_org_created_idx"),
    HotQuery("get by id", projects.GET, "projects_pkey"),
    HotQuery("update by id", projects.UPDATE, "projects_pkey"),
    HotQuery("delete by id", projects.DELETE, "projects_pkey"),
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


@dataclass(frozen=True)
class Access:
    """One node of a plan that reads iam.projects."""

    node: str
    index: str | None


def explain(
    conn: Conn,
    query: str,
    params: Mapping[str, Any],
    user_id: uuid.UUID,
    org_id: uuid.UUID,
    *,
    generic: bool,
) -> dict[str, Any]:
    """The JSON plan of query as iam_authenticated for (user_id, org_id); nothing is executed."""
    with conn.transaction(force_rollback=True):
        conn.execute(SET_TENANT_CONTEXT_ONLY, tenant_context(user_id, org_id, 5000))
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
    found = []
    for node in nodes(plan):
        relation = node.get("Relation Name")
        index = node.get("Index Name")
        if relation == "projects" or (index is not None and str(index).startswith("projects_")):
            found.append(Access(str(node["Node Type"]), None if index is None else str(index)))
    return found


def describe(accesses: list[Access]) -> str:
    return ", ".join(f"{a.node} on {a.index}" if a.index else a.node for a in accesses)


def uses_only(accesses: list[Access], index: str) -> bool:
    """True when iam.projects is read, and only through index (or a bitmap heap scan of it)."""
    if not accesses:
        return False
    for access in accesses:
        if access.node in INDEX_SCANS:
            if access.index != index:
                return False
        elif access.node not in {"Bitmap Heap Scan", "ModifyTable"}:
            return False
    return any(access.node in INDEX_SCANS for access in accesses)
