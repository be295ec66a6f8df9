"""SQL for iam.audit_events, which only the database writes. The policy decides who reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from service.db.queries.pages import AFTER, After, PageRow, keyset_page
from service.db.runner import RequestRunner

COLUMNS = (
    "id",
    "organization_id",
    "actor_user_id",
    "action",
    "target_type",
    "target_id",
    "changes",
    "request_id",
    "occurred_at",
)

# Each filter is one condition of a fixed text; a page's statement holds
# only the filters given, so each combination keeps a plan of its own on
# the index that fits it (db/migrations/*_create_audit_events.sql).
FILTERS = {
    "action": "e.action = %(action)s",
    "actor_user_id": "e.actor_user_id = %(actor_user_id)s",
    "target_id": "e.target_id = %(target_id)s",
    "since": "e.occurred_at >= %(since)s",
    "until": "e.occurred_at < %(until)s",
}
_AFTER = AFTER.format(created="e.occurred_at", key="e.id")


@cache
def page_statement(filters: tuple[str, ...], after: bool) -> str:
    """The page's statement for these filters (names of FILTERS, sorted), first or next page.

    Besides the page, it says whether the caller may read the log at all:
    the policy's own function, so a member it hides every event from gets
    403 rather than an empty list.
    """
    conditions = [FILTERS[name] for name in filters] + ([_AFTER] if after else [])
    where = f"where {' and '.join(conditions)}" if conditions else ""
    page = keyset_page(
        "select e.*, e.occurred_at as created_at, e.id as page_key from iam.audit_events as e"
        f" {where} order by e.occurred_at desc, e.id desc limit %(limit)s + 1",
        COLUMNS,
    )
    return f"select page.*, (select iam.may_read_audit_events()) from ({page}) as page"


@dataclass(frozen=True)
class AuditPage:
    page: PageRow
    may_read: bool


async def list_page(
    db: RequestRunner, limit: int, after: After | None, filters: Mapping[str, Any]
) -> AuditPage:
    given = tuple(sorted(name for name, value in filters.items() if value is not None))
    params: dict[str, Any] = {name: filters[name] for name in given}
    params["limit"] = limit
    if after is not None:
        params.update(after_micros=after.micros, after_id=after.id)
    row = await db.fetchone(page_statement(given, after is not None), params)
    assert row is not None
    return AuditPage(PageRow(row[0], bool(row[1]), row[2], row[3]), bool(row[4]))


# `rls-iam audit-log archive` (service/cli/audit_log.py), run by an operator
# as a superuser or a BYPASSRLS role: the events older than a cutoff, oldest
# first, then exactly those deleted, in one REPEATABLE READ transaction.
ARCHIVE_SELECT_OLD = (
    "select row_to_json(e)::text from iam.audit_events as e"
    " where e.occurred_at < %s order by e.occurred_at, e.id"
)
ARCHIVE_DELETE_OLD = "delete from iam.audit_events where occurred_at < %s"
BYPASSES_RLS = (
    "select rolsuper or rolbypassrls from pg_catalog.pg_roles where rolname = current_user"
)
