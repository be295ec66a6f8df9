"""SQL for iam.projects. No statement filters by organization: the policies do."""

from __future__ import annotations

from uuid import UUID

from service.db.queries.pages import AFTER, After, PageRow, fetch_page, json_object, keyset_page
from service.db.runner import RequestRunner

COLUMNS = (
    "id",
    "organization_id",
    "name",
    "description",
    "created_by_user_id",
    "created_at",
    "updated_at",
)
_PROJECT = json_object("p", COLUMNS)


def _page(where: str) -> str:
    return keyset_page(
        f"select p.*, p.id as page_key from iam.projects as p {where}"
        " order by p.created_at desc, p.id desc limit %(limit)s + 1",
        COLUMNS,
    )


LIST_FIRST = _page("")
LIST_AFTER = _page("where " + AFTER.format(created="p.created_at", key="p.id"))

GET = f"select {_PROJECT} from iam.projects as p where p.id = %(id)s"

CREATE = f"""
insert into iam.projects as p (name, description) values (%(name)s, %(description)s)
returning {_PROJECT}
"""

# The CTE's update runs under the UPDATE policy; the visibility probe reads
# under the SELECT policy, from the snapshot before the update. No row
# changed but visible: the role may not (403). Not visible: 404.
UPDATE = f"""
with changed as (
    update iam.projects as p
    set name = coalesce(%(name)s, p.name),
        description = case when %(set_description)s then %(description)s else p.description end
    where p.id = %(id)s
    returning p.*
)
select (select {_PROJECT} from changed as p),
       exists (select 1 from iam.projects where id = %(id)s)
"""

# Deleted, and visible: iam.delete_project runs the delete under the DELETE
# policy and the probe under the SELECT policy, as iam_deleter with the
# caller's context (request roles hold no DELETE: docs/dba.md, "LOCK TABLE").
DELETE = "select d.deleted, d.visible from iam.delete_project(%(id)s) as d"


async def list_page(db: RequestRunner, limit: int, after: After | None) -> PageRow:
    return await fetch_page(db, LIST_FIRST, LIST_AFTER, limit, after)


async def get(db: RequestRunner, project_id: UUID) -> str | None:
    row = await db.fetchone(GET, {"id": project_id})
    return None if row is None else str(row[0])


async def create(db: RequestRunner, name: str, description: str | None) -> str:
    row = await db.fetchone(CREATE, {"name": name, "description": description})
    assert row is not None
    return str(row[0])


async def update(
    db: RequestRunner,
    project_id: UUID,
    *,
    name: str | None,
    description: str | None,
    set_description: bool,
) -> tuple[str | None, bool]:
    params = {
        "id": project_id,
        "name": name,
        "description": description,
        "set_description": set_description,
    }
    row = await db.fetchone(UPDATE, params)
    assert row is not None
    return row[0], bool(row[1])


async def delete(db: RequestRunner, project_id: UUID) -> tuple[bool, bool]:
    row = await db.fetchone(DELETE, {"id": project_id})
    assert row is not None
    return bool(row[0]), bool(row[1])
