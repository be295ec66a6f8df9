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

# The quota is taken first; the organization is created only when it
# allows (the subquery's filter on the outer wait gates the function call).
CREATE = f"""
with quota as materialized (select iam.take_organization_quota(%(per_hour)s) as wait)
select q.wait,
       (select {json_object("o", COLUMNS)} from iam.create_organization(%(name)s) as o
        where q.wait = 0)
from quota as q
"""


async def list_page(db: RequestRunner, limit: int, after: After | None) -> PageRow:
    return await fetch_page(db, LIST_FIRST, LIST_AFTER, limit, after)


async def create(db: RequestRunner, name: str, per_hour: int) -> tuple[int, str | None]:
    """Seconds to wait when over the quota (nothing created), else 0 and the organization."""
    row = await db.fetchone(CREATE, {"name": name, "per_hour": per_hour})
    assert row is not None
    wait, created = row
    return int(wait), None if created is None else str(created)
