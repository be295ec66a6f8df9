"""SQL for the caller's organizations, through definer functions that filter by the caller."""

from __future__ import annotations

from service.db.queries.pages import After, PageRow, fetch_page, json_object, keyset_page
from service.db.runner import RequestRunner

COLUMNS = ("id", "name", "role", "created_at")

LIST_FIRST = keyset_page(
    "select o.*, o.id as page_key from iam.my_organizations(%(limit)s + 1) as o", COLUMNS
)
LIST_AFTER = keyset_page(
    "select o.*, o.id as page_key from iam.my_organizations(%(limit)s + 1,"
    " 'epoch'::timestamptz + %(after_micros)s * interval '1 microsecond', %(after_id)s::uuid) as o",
    COLUMNS,
)

CREATE = f"select {json_object('o', COLUMNS)} from iam.create_organization(%(name)s) as o"


async def list_page(db: RequestRunner, limit: int, after: After | None) -> PageRow:
    return await fetch_page(db, LIST_FIRST, LIST_AFTER, limit, after)


async def create(db: RequestRunner, name: str) -> str:
    row = await db.fetchone(CREATE, {"name": name})
    assert row is not None
    return str(row[0])
