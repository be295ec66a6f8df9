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

# iam.user_id_for_invite raises 42501 unless the caller is an ORG_ADMIN, and
# returns NULL for an unknown email. The new member's email is the input,
# normalized the way iam.users stores it.
ADD = f"""
with target as (select iam.user_id_for_invite(%(email)s) as user_id),
added as (
    insert into iam.organization_memberships (user_id, role)
    select user_id, %(role)s::iam.org_role from target where user_id is not null
    returning user_id, lower(btrim(%(email)s)) as email, role, created_at
)
select (select {_MEMBER} from added as m)
"""

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

REMOVE = """
with gone as (delete from iam.organization_memberships where user_id = %(user_id)s returning 1)
select exists (select 1 from gone),
       exists (select 1 from iam.organization_memberships where user_id = %(user_id)s)
"""


async def list_page(db: RequestRunner, limit: int, after: After | None) -> PageRow:
    return await fetch_page(db, LIST_FIRST, LIST_AFTER, limit, after)


async def add(db: RequestRunner, email: str, role: str) -> str | None:
    row = await db.fetchone(ADD, {"email": email, "role": role})
    assert row is not None
    return None if row[0] is None else str(row[0])


async def change_role(db: RequestRunner, user_id: UUID, role: str) -> tuple[str | None, bool]:
    row = await db.fetchone(CHANGE_ROLE, {"user_id": user_id, "role": role})
    assert row is not None
    return row[0], bool(row[1])


async def remove(db: RequestRunner, user_id: UUID) -> tuple[bool, bool]:
    row = await db.fetchone(REMOVE, {"user_id": user_id})
    assert row is not None
    return bool(row[0]), bool(row[1])
