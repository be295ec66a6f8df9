"""SQL for the caller's organizations, through definer functions that filter by the caller."""

from __future__ import annotations

from uuid import UUID

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

# The active organization only: the SELECT policy shows no other, so any
# other id is simply not found. The role is the caller's, from the database.
_ORGANIZATION = json_object("o", COLUMNS)
GET = f"""
select {_ORGANIZATION}
from (select o.id, o.name, iam.member_role() as role, o.created_at
      from iam.organizations as o where o.id = %(id)s) as o
"""

# As for projects: the update runs under the UPDATE policy, the probe under
# the SELECT policy; changed nothing but visible means 403.
RENAME = f"""
with changed as (
    update iam.organizations set name = %(name)s where id = %(id)s returning id, name, created_at
)
select (select {_ORGANIZATION}
        from (select c.id, c.name, iam.member_role() as role, c.created_at from changed as c) as o),
       exists (select 1 from iam.organizations where id = %(id)s)
"""

# One statement: the organization's memberships, projects and invitations
# go with it (on delete cascade), in the request's one transaction. Deleted,
# and visible, as for projects (iam.delete_organization).
DELETE = "select d.deleted, d.visible from iam.delete_organization(%(id)s) as d"


async def list_page(db: RequestRunner, limit: int, after: After | None) -> PageRow:
    return await fetch_page(db, LIST_FIRST, LIST_AFTER, limit, after)


async def get(db: RequestRunner, organization_id: UUID) -> str | None:
    row = await db.fetchone(GET, {"id": organization_id})
    return None if row is None else str(row[0])


async def rename(db: RequestRunner, organization_id: UUID, name: str) -> tuple[str | None, bool]:
    row = await db.fetchone(RENAME, {"id": organization_id, "name": name})
    assert row is not None
    return row[0], bool(row[1])


async def delete(db: RequestRunner, organization_id: UUID) -> tuple[bool, bool]:
    row = await db.fetchone(DELETE, {"id": organization_id})
    assert row is not None
    return bool(row[0]), bool(row[1])


async def create(db: RequestRunner, name: str, per_hour: int) -> tuple[int, str | None]:
    """Seconds to wait when over the quota (nothing created), else 0 and the organization."""
    row = await db.fetchone(CREATE, {"name": name, "per_hour": per_hour})
    assert row is not None
    wait, created = row
    return int(wait), None if created is None else str(created)
