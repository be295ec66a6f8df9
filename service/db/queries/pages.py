"""Keyset pages serialized by PostgreSQL, shared by every list endpoint.

A page query returns its rows newest first, at most limit + 1 of them, with
the columns created_at and page_key (the tie-breaker). The extra row only
says that another page follows. PostgreSQL writes the items' JSON in one
aggregate pass, so no Python object is made per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.db.runner import RequestRunner

# The condition that resumes after a cursor, for a table with these columns.
AFTER = (
    "({created}, {key}) < ('epoch'::timestamptz + %(after_micros)s * interval '1 microsecond',"
    " %(after_id)s::uuid)"
)


def json_object(alias: str, columns: Sequence[str]) -> str:
    """Compact JSON text of some columns of a row, keys in the given order."""
    selected = ", ".join(f"{alias}.{column}" for column in columns)
    return f"row_to_json((select x from (select {selected}) as x))::text"


def keyset_page(select_page: str, columns: Sequence[str]) -> str:
    return f"""
with page as (select r.*, row_number() over () as n from ({select_page}) as r)
select coalesce('[' || string_agg({json_object("r", columns)}, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r
"""


@dataclass(frozen=True)
class After:
    """The position after which the next page starts: microseconds since the epoch and an id."""

    micros: int
    id: uuid.UUID


@dataclass(frozen=True)
class PageRow:
    items_json: str
    has_more: bool
    last_micros: int | None
    last_key: Any


async def fetch_page(
    db: RequestRunner, first: str, after_sql: str, limit: int, after: After | None
) -> PageRow:
    """Run the first-page or the next-page statement; each keeps a plan that walks the index."""
    if after is None:
        row = await db.fetchone(first, {"limit": limit})
    else:
        params = {"limit": limit, "after_micros": after.micros, "after_id": after.id}
        row = await db.fetchone(after_sql, params)
    assert row is not None
    return PageRow(row[0], bool(row[1]), row[2], row[3])
