"""SQL for iam.organization_memberships. The policies decide who sees and changes what."""

from __future__ import annotations

from uuid import UUID

from service.db.queries.pages import AFTER, After, PageRow, fetch_page, json_object, keyset_page
from service.db.runner import RequestRunner

COLUMNS = ("user_id", "email", "role", "created_at")
_MEMBER = json_object("m", COLUMNS)


def _page(where: str) -> str:
    return keyset_page(
        "select m.user_id, u.email, m.role, m.created_at, m.user_id as page_key"
        " from iam.organization_memberships as m join iam.users as u on u.id = m.user_id"
        f" {where} order by m.created_at desc, m.user_id desc limit %(limit)s + 1",
        COLUMNS,
    )


LIST_FIRST = _page("")
LIST_AFTER = _page("where " + AFTER.format(created="m.created_at", key="m.user_id"))

# As for projects: the update runs under the UPDATE policy, the probe under
# the SELECT policy; changed nothing but visible means 403.
CHANGE_ROLE = f"""
with changed as (
    update iam.organization_memberships set role = %(role)s::iam.org_role
    where user_id = %(user_id)s
    returning user_id, role, created_at
)
select (select {_MEMBER}
        from (select c.*, u.email from changed as c join iam.users as u on u.id = c.user_id) as m),
       exists (select 1 from iam.organization_memberships where user_id = %(user_id)s)
"""

# Removing a member and leaving: deleted, and visible, as for projects
# (iam.remove_member).
REMOVE = "select r.deleted, r.visible from iam.remove_member(%(user_id)s) as r"


async def list_page(db: RequestRunner, limit: int, after: After | None) -> PageRow:
    return await fetch_page(db, LIST_FIRST, LIST_AFTER, limit, after)


async def change_role(db: RequestRunner, user_id: UUID, role: str) -> tuple[str | None, bool]:
    row = await db.fetchone(CHANGE_ROLE, {"user_id": user_id, "role": role})
    assert row is not None
    return row[0], bool(row[1])


async def remove(db: RequestRunner, user_id: UUID) -> tuple[bool, bool]:
    row = await db.fetchone(REMOVE, {"user_id": user_id})
    assert row is not None
    return bool(row[0]), bool(row[1])
